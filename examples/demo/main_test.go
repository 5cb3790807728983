package main

import (
	"net"
	"testing"
)

func TestBrowseURL(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ln   net.Addr
		want string
	}{
		{":8080", &net.TCPAddr{IP: net.IPv6zero, Port: 8080}, "http://localhost:8080/"},
		{":0", &net.TCPAddr{IP: net.IPv6zero, Port: 41234}, "http://localhost:41234/"},
		{"0.0.0.0:8080", &net.TCPAddr{IP: net.IPv4zero, Port: 8080}, "http://localhost:8080/"},
		{"[::]:8080", &net.TCPAddr{IP: net.IPv6zero, Port: 8080}, "http://localhost:8080/"},
		{"127.0.0.1:0", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}, "http://127.0.0.1:5555/"},
		{"[::1]:0", &net.TCPAddr{IP: net.IPv6loopback, Port: 5555}, "http://[::1]:5555/"},
		{"demo.test:9000", &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 9000}, "http://demo.test:9000/"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			if got := browseURL(tc.addr, tc.ln); got != tc.want {
				t.Fatalf("browseURL(%q, %v) = %q, want %q", tc.addr, tc.ln, got, tc.want)
			}
		})
	}
}
