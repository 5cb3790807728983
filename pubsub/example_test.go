package pubsub_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/pubsub"
)

type OrderCreated struct {
	ID int `json:"id"`
}

func ExampleOpen() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	ctx := context.Background()

	// Open returns once Redis confirmed the subscription, so nothing
	// published from here on is missed.
	sub, err := pubsub.Open[OrderCreated](ctx, rdb, pubsub.SubscribeOptions{Channels: []string{"orders"}})
	if err != nil {
		panic(err)
	}
	for id := 1; id <= 2; id++ {
		if err := pubsub.Publish(ctx, rdb, "orders", OrderCreated{ID: id}); err != nil {
			panic(err)
		}
	}
	n := 0
	for msg, err := range sub.Messages() {
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(msg.Channel, msg.Data.ID)
		if n++; n == 2 {
			break // ends the subscription and releases its connection
		}
	}
	// Output:
	// orders 1
	// orders 2
}

func ExampleSSE() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	mux := http.NewServeMux()
	mux.Handle("GET /events", pubsub.SSE(rdb, func(r *http.Request) ([]string, error) {
		return []string{"orders"}, nil
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/events") // returns once subscribed
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	if err := pubsub.Publish(context.Background(), rdb, "orders", OrderCreated{ID: 7}); err != nil {
		panic(err)
	}
	rd := bufio.NewReader(resp.Body)
	for range 3 {
		line, _ := rd.ReadString('\n')
		fmt.Printf("%q\n", line)
	}
	// Output:
	// "event: orders\n"
	// "data: {\"id\":7}\n"
	// "\n"
}
