package pubsub_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

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

func ExampleStream() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	ctx := context.Background()

	// The key is pubsub:stream:orders, trimmed to about 1000 entries and
	// expiring 24 h after the last append (StreamOptions change both).
	orders, err := pubsub.NewStream[OrderCreated](rdb, "orders", pubsub.StreamOptions{})
	if err != nil {
		panic(err)
	}
	var seen string // the ID of the last entry a reader handled
	for id := 1; id <= 3; id++ {
		entryID, err := orders.Append(ctx, OrderCreated{ID: id})
		if err != nil {
			panic(err)
		}
		if id == 1 {
			seen = entryID
		}
	}

	// A reader that stopped after the first entry goes on after it: the
	// stream kept what it missed. Read then waits for new entries until
	// the loop breaks or ctx ends.
	n := 0
	for e, err := range orders.Read(ctx, seen) {
		if err != nil { // ErrTrimmed if entries it missed were trimmed away
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(e.Data.ID)
		if n++; n == 2 {
			break
		}
	}
	// Output:
	// 2
	// 3
}

func ExampleStreamSSE() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	ctx := context.Background()

	orders, err := pubsub.NewStream[OrderCreated](rdb, "orders", pubsub.StreamOptions{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /events", pubsub.StreamSSE(rdb, func(r *http.Request) (string, error) {
		return "orders", nil // the place to authorize
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	first, err := orders.Append(ctx, OrderCreated{ID: 1})
	if err != nil {
		panic(err)
	}
	for id := 2; id <= 3; id++ {
		if _, err := orders.Append(ctx, OrderCreated{ID: id}); err != nil {
			panic(err)
		}
	}

	// A browser that got the first event and lost its connection
	// reconnects with the event's ID; the handler replays what it missed.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/events", nil)
	req.Header.Set("Last-Event-ID", first)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	for events := 0; events < 2; {
		line, _ := rd.ReadString('\n')
		switch {
		case strings.HasPrefix(line, "id: "): // the entry's ID, "<ms>-<seq>": it varies
		case line == "\n":
			events++
		default:
			fmt.Print(line)
		}
	}
	// Output:
	// event: orders
	// data: {"id":2}
	// event: orders
	// data: {"id":3}
}
