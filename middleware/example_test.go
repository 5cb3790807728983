package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/redisware/redisware/middleware"
)

func ExampleClientIP() {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	h := middleware.ClientIP(proxies...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, _ := middleware.ClientIPFromContext(r.Context())
		fmt.Println("client:", ip)
	}))

	// Behind our proxy: the rightmost untrusted hop is the client.
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:3456"
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 198.51.100.7")
	h.ServeHTTP(httptest.NewRecorder(), r)

	// Straight from the internet: headers are ignored.
	r = httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "203.0.113.9:3456"
	r.Header.Set("X-Forwarded-For", "1.2.3.4")
	h.ServeHTTP(httptest.NewRecorder(), r)
	// Output:
	// client: 198.51.100.7
	// client: 203.0.113.9
}

func ExampleChain() {
	tag := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Println("enter", name)
				next.ServeHTTP(w, r)
			})
		}
	}
	h := middleware.Chain(tag("ClientIP"), tag("ratelimit"), tag("session"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("handler")
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	// Output:
	// enter ClientIP
	// enter ratelimit
	// enter session
	// handler
}

func ExampleJoinKeys() {
	key := middleware.JoinKeys(middleware.KeyByIP, middleware.KeyByPath)
	r := httptest.NewRequest("GET", "/login", nil)
	r.RemoteAddr = "[2001:db8::1]:443"
	k, err := key(r)
	fmt.Println(k, err)
	// Output: 13:2001:db8::/64,6:/login <nil>
}
