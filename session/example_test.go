package session_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/session"
)

// exampleRedis returns a client of an in-process Redis for the examples.
func exampleRedis() (redis.UniversalClient, func()) {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	return rdb, func() { _ = rdb.Close(); mr.Close() }
}

// Keys come from configuration in a real application; these are fixed
// so the example runs offline.
var hashKey, blockKey = bytes.Repeat([]byte("k"), 32), bytes.Repeat([]byte("b"), 32)

// A visit counter: Incr is applied in Redis, so concurrent requests of one
// visitor never lose a count.
func Example() {
	rdb, done := exampleRedis()
	defer done()
	m, err := session.New(rdb, session.Options{Keys: [][]byte{hashKey, blockKey}})
	if err != nil {
		panic(err)
	}
	app := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := session.FromContext(r.Context()).Incr("visits", 1)
		fmt.Fprintf(w, "visit %d", n)
	}))

	var cookies []*http.Cookie
	for range 3 {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, req)
		if set := rec.Result().Cookies(); len(set) > 0 {
			cookies = set // only the first response sets the cookie
		}
		fmt.Println(rec.Body.String(), "- cookies set:", len(rec.Result().Cookies()))
	}
	// Output:
	// visit 1 - cookies set: 1
	// visit 2 - cookies set: 0
	// visit 3 - cookies set: 0
}

// Typed values: Get decodes into the type asked for.
func ExampleGet() {
	rdb, done := exampleRedis()
	defer done()
	m, _ := session.New(rdb, session.Options{Keys: [][]byte{hashKey, blockKey}})
	type Cart struct{ Items []string }

	put := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = session.FromContext(r.Context()).Put("cart", Cart{Items: []string{"tea", "milk"}})
	}))
	rec := httptest.NewRecorder()
	put.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/cart", nil))

	get := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cart, ok, err := session.Get[Cart](session.FromContext(r.Context()), "cart")
		fmt.Println(cart.Items, ok, err)
		_, ok, _ = session.Get[int](session.FromContext(r.Context()), "missing")
		fmt.Println(ok)
	}))
	req := httptest.NewRequest(http.MethodGet, "/cart", nil)
	req.AddCookie(rec.Result().Cookies()[0])
	get.ServeHTTP(httptest.NewRecorder(), req)
	// Output:
	// [tea milk] true <nil>
	// false
}

// Login renews the session ID and indexes the session under the user, so
// DestroyUser can log the user out everywhere.
func ExampleManager_DestroyUser() {
	rdb, done := exampleRedis()
	defer done()
	m, _ := session.New(rdb, session.Options{Keys: [][]byte{hashKey}})
	login := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = session.FromContext(r.Context()).Login("alice")
	}))
	for range 2 { // a laptop and a phone
		login.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login", nil))
	}
	ctx := context.Background()
	list, _ := m.Sessions(ctx, "alice")
	fmt.Println("sessions:", len(list))
	n, _ := m.DestroyUser(ctx, "alice")
	fmt.Println("destroyed:", n)
	list, _ = m.Sessions(ctx, "alice")
	fmt.Println("sessions:", len(list))
	// Output:
	// sessions: 2
	// destroyed: 2
	// sessions: 0
}

// UserKey keys rate limits (or anything taking a middleware.KeyFunc) by the
// logged-in user.
func ExampleUserKey() {
	rdb, done := exampleRedis()
	defer done()
	m, _ := session.New(rdb, session.Options{Keys: [][]byte{hashKey}})
	key := session.UserKey(m)
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := key(r)
		fmt.Println("anonymous:", err != nil)
		_ = session.FromContext(r.Context()).Login("bob")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))

	h = m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, _ := key(r)
		fmt.Println("key:", k)
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(rec.Result().Cookies()[0])
	h.ServeHTTP(httptest.NewRecorder(), req)
	// Output:
	// anonymous: true
	// key: bob
}

// Numbers that must be the stored ones: two requests of one visitor that
// load the session together both estimate 1 with Incr, while IncrNow hands
// them 1 and 2, what Redis holds after each.
func ExampleSession_IncrNow() {
	rdb, done := exampleRedis()
	defer done()
	m, _ := session.New(rdb, session.Options{Keys: [][]byte{hashKey, blockKey}})
	start := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = session.FromContext(r.Context()).Put("started", true)
	}))
	rec := httptest.NewRecorder()
	start.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	cookie := rec.Result().Cookies()[0]

	loaded, both := make(chan struct{}, 2), make(chan struct{})
	got := make(chan string, 2)
	app := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		loaded <- struct{}{}
		<-both // both requests have loaded the session before either counts
		s := session.FromContext(r.Context())
		estimate, _ := s.Incr("estimated", 1)
		stored, _ := s.IncrNow(r.Context(), "stored", 1)
		got <- fmt.Sprintf("Incr %d, IncrNow %d", estimate, stored)
	}))
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.AddCookie(cookie)
			app.ServeHTTP(httptest.NewRecorder(), req)
		}()
	}
	<-loaded
	<-loaded
	close(both)
	wg.Wait()
	a, b := <-got, <-got
	if a > b {
		a, b = b, a
	}
	fmt.Println(a)
	fmt.Println(b)
	// Output:
	// Incr 1, IncrNow 1
	// Incr 1, IncrNow 2
}
