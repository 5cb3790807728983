package cachehandler_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/cachehandler"
)

func Example() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	// A fixed clock keeps the output reproducible; leave Now nil in real use.
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	c, err := cachehandler.New(rdb, cachehandler.Options{Now: now})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	product := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Cache-Tag", "product:42")
		fmt.Fprintln(w, "product 42")
	})
	h := c.Middleware(product)

	for i := 0; i < 2; i++ {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "https://shop.example/products/42", nil))
		fmt.Printf("%d %q Age=%q Cache-Tag=%q\n", w.Code, w.Header().Get("Cache-Status"), w.Header().Get("Age"), w.Header().Get("Cache-Tag"))
	}
	// Output:
	// 200 "redisware; fwd=uri-miss; stored" Age="" Cache-Tag=""
	// 200 "redisware; hit; ttl=60" Age="0" Cache-Tag=""
}

func ExampleCache_PurgeTags() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	// A fixed clock keeps the output reproducible; leave Now nil in real use.
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	c, err := cachehandler.New(rdb, cachehandler.Options{Now: now})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Cache-Tag", "product:42, catalogue")
		fmt.Fprintln(w, "product 42")
	}))
	get := func() string {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "https://shop.example/products/42", nil))
		return w.Header().Get("Cache-Status")
	}
	get()
	fmt.Println(get())
	if err := c.PurgeTags(context.Background(), "product:42"); err != nil {
		panic(err)
	}
	fmt.Println(get())
	// Output:
	// redisware; hit; ttl=60
	// redisware; fwd=uri-miss; stored
}
