package middleware

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func BenchmarkClientIP(b *testing.B) {
	cases := []struct {
		name, remote, xff string
	}{
		{"direct", "203.0.113.9:5555", ""},
		{"two trusted hops", "10.0.0.1:80", "6.6.6.6, 198.51.100.7, 10.0.0.2"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := ClientIP(testProxies...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			if c.xff != "" {
				r.Header.Set("X-Forwarded-For", c.xff)
			}
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}

func BenchmarkKeyByIP(b *testing.B) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "[2001:db8:1:2:3:4:5:6]:443"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := KeyByIP(r); err != nil {
			b.Fatal(err)
		}
	}
}
