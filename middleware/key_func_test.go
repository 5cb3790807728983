package middleware

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestKeyFuncs(t *testing.T) {
	tests := []struct {
		name    string
		fn      KeyFunc
		remote  string
		header  map[string]string
		path    string
		want    string
		wantErr bool
	}{
		{name: "ip v4", fn: KeyByIP, remote: "203.0.113.9:1", want: "203.0.113.9"},
		{name: "ip v6 grouped by /64", fn: KeyByIP, remote: "[2001:db8:1:2:3:4:5:6]:1", want: "2001:db8:1:2::/64"},
		{name: "ip v6 same /64 same key", fn: KeyByIP, remote: "[2001:db8:1:2:ffff::1]:1", want: "2001:db8:1:2::/64"},
		{name: "ip unparsable", fn: KeyByIP, remote: "???", wantErr: true},
		{name: "header", fn: KeyByHeader("x-api-key"), remote: "1.1.1.1:1", header: map[string]string{"X-Api-Key": " k1 "}, want: "k1"},
		{name: "header missing", fn: KeyByHeader("X-Api-Key"), remote: "1.1.1.1:1", wantErr: true},
		{name: "path", fn: KeyByPath, remote: "1.1.1.1:1", path: "/a/b", want: "/a/b"},
		{name: "join", fn: JoinKeys(KeyByIP, KeyByPath), remote: "1.1.1.1:1", path: "/x", want: "1.1.1.1:/x"},
		{name: "join error", fn: JoinKeys(KeyByPath, KeyByHeader("X-K")), remote: "1.1.1.1:1", wantErr: true},
		{name: "join none", fn: JoinKeys(), remote: "1.1.1.1:1", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = "/"
			}
			r := httptest.NewRequest("GET", path, nil)
			r.RemoteAddr = tt.remote
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			got, err := tt.fn(r)
			if tt.wantErr {
				if !errors.Is(err, ErrNoKey) {
					t.Fatalf("err = %v, want ErrNoKey", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestKeyByIPUsesResolvedClient(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:80"
	r.Header.Set("X-Forwarded-For", "198.51.100.7")
	var got string
	ClientIP(netip.MustParsePrefix("10.0.0.0/8"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = KeyByIP(r)
	})).ServeHTTP(httptest.NewRecorder(), r)
	if got != "198.51.100.7" {
		t.Fatalf("KeyByIP = %q, want the forwarded client", got)
	}
}
