package middleware

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
)

var testProxies = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("fd00::/8"),
}

type clientIPCase struct {
	name    string
	remote  string
	xff     []string
	fwd     []string
	trusted []netip.Prefix
	want    string // "" means no address stored
}

var clientIPCases = []clientIPCase{
	{name: "direct peer", remote: "203.0.113.9:5555", want: "203.0.113.9"},
	{name: "spoofed XFF from untrusted peer", remote: "203.0.113.9:5555", xff: []string{"1.2.3.4"}, trusted: testProxies, want: "203.0.113.9"},
	{name: "spoofed Forwarded from untrusted peer", remote: "203.0.113.9:5555", fwd: []string{"for=1.2.3.4"}, trusted: testProxies, want: "203.0.113.9"},
	{name: "headers ignored without trusted proxies", remote: "10.0.0.1:80", xff: []string{"1.2.3.4"}, want: "10.0.0.1"},
	{name: "one trusted hop", remote: "10.0.0.1:80", xff: []string{"198.51.100.7"}, trusted: testProxies, want: "198.51.100.7"},
	{name: "two trusted hops", remote: "10.0.0.1:80", xff: []string{"198.51.100.7, 10.0.0.2"}, trusted: testProxies, want: "198.51.100.7"},
	{name: "client-forged left part ignored", remote: "10.0.0.1:80", xff: []string{"6.6.6.6, 198.51.100.7, 10.0.0.2"}, trusted: testProxies, want: "198.51.100.7"},
	{name: "several XFF header lines", remote: "10.0.0.1:80", xff: []string{"6.6.6.6", "198.51.100.7", "10.0.0.2"}, trusted: testProxies, want: "198.51.100.7"},
	{name: "all hops trusted", remote: "10.0.0.1:80", xff: []string{"10.0.0.3, 10.0.0.2"}, trusted: testProxies, want: "10.0.0.3"},
	{name: "trusted peer without headers", remote: "10.0.0.1:80", trusted: testProxies, want: "10.0.0.1"},
	{name: "IPv4-mapped IPv6 peer", remote: "[::ffff:203.0.113.9]:443", want: "203.0.113.9"},
	{name: "IPv4-mapped IPv6 trusted peer", remote: "[::ffff:10.0.0.1]:443", xff: []string{"198.51.100.7"}, trusted: testProxies, want: "198.51.100.7"},
	{name: "IPv4-mapped IPv6 hop", remote: "10.0.0.1:80", xff: []string{"::ffff:198.51.100.7"}, trusted: testProxies, want: "198.51.100.7"},
	{name: "IPv6 peer with zone", remote: "[fe80::1%eth0]:80", want: "fe80::1"},
	{name: "IPv6 hop with zone", remote: "10.0.0.1:80", xff: []string{"fe80::2%25eth0, fe80::1%eth0"}, trusted: testProxies, want: "fe80::1"},
	{name: "Forwarded bracketed IPv6 with port", remote: "[fd00::1]:80", fwd: []string{`for="[2001:db8::7]:4711"`}, trusted: testProxies, want: "2001:db8::7"},
	{name: "Forwarded bracketed IPv6", remote: "[fd00::1]:80", fwd: []string{`for="[2001:db8::7]"`}, trusted: testProxies, want: "2001:db8::7"},
	{name: "Forwarded two elements", remote: "10.0.0.1:80", fwd: []string{`for=198.51.100.7;proto=https, for=10.0.0.2;by=10.0.0.1`}, trusted: testProxies, want: "198.51.100.7"},
	{name: "Forwarded case-insensitive for", remote: "10.0.0.1:80", fwd: []string{`proto=http;For=198.51.100.7`}, trusted: testProxies, want: "198.51.100.7"},
	{name: "Forwarded wins over XFF", remote: "10.0.0.1:80", fwd: []string{"for=198.51.100.7"}, xff: []string{"6.6.6.6"}, trusted: testProxies, want: "198.51.100.7"},
	{name: "Forwarded obfuscated identifier stops walk", remote: "10.0.0.1:80", fwd: []string{"for=6.6.6.6, for=_hidden"}, trusted: testProxies, want: "10.0.0.1"},
	{name: "Forwarded unknown stops walk", remote: "10.0.0.1:80", fwd: []string{"for=unknown"}, trusted: testProxies, want: "10.0.0.1"},
	{name: "garbage hop stops walk", remote: "10.0.0.1:80", xff: []string{"6.6.6.6, garbage, 10.0.0.2"}, trusted: testProxies, want: "10.0.0.2"},
	{name: "garbage only", remote: "10.0.0.1:80", xff: []string{",,, ;;; [[::"}, trusted: testProxies, want: "10.0.0.1"},
	{name: "empty XFF", remote: "10.0.0.1:80", xff: []string{""}, trusted: testProxies, want: "10.0.0.1"},
	{name: "overlong hop", remote: "10.0.0.1:80", xff: []string{"1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16"}, trusted: testProxies, want: "10.0.0.1"},
	{name: "unparsable RemoteAddr", remote: "not an address", xff: []string{"1.2.3.4"}, trusted: testProxies, want: ""},
	{name: "RemoteAddr without port", remote: "203.0.113.9", want: "203.0.113.9"},
	{name: "invalid trusted prefix trusts nobody", remote: "10.0.0.1:80", xff: []string{"1.2.3.4"}, trusted: []netip.Prefix{{}}, want: "10.0.0.1"},
}

func TestClientIP(t *testing.T) {
	for _, tt := range clientIPCases {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := runClientIP(tt.remote, tt.xff, tt.fwd, tt.trusted)
			if tt.want == "" {
				if ok {
					t.Fatalf("stored %v, want nothing", got)
				}
				return
			}
			if !ok || got != netip.MustParseAddr(tt.want) {
				t.Fatalf("ClientIP = %v (stored %v), want %s", got, ok, tt.want)
			}
		})
	}
}

func runClientIP(remote string, xff, fwd []string, trusted []netip.Prefix) (netip.Addr, bool) {
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = remote
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	for _, v := range fwd {
		req.Header.Add("Forwarded", v)
	}
	var got netip.Addr
	var ok bool
	ClientIP(trusted...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok = ClientIPFromContext(r.Context())
	})).ServeHTTP(httptest.NewRecorder(), req)
	return got, ok
}

// FuzzClientIP checks, for any headers, that resolution never panics, that
// an untrusted peer always gets its own address, and that the result is
// either the peer or an address that appears in the headers.
func FuzzClientIP(f *testing.F) {
	for _, tt := range clientIPCases {
		var xff, fwd string
		if len(tt.xff) > 0 {
			xff = tt.xff[0]
		}
		if len(tt.fwd) > 0 {
			fwd = tt.fwd[0]
		}
		f.Add(tt.remote, xff, fwd)
	}
	f.Fuzz(func(t *testing.T, remote, xff, fwd string) {
		var xs, fs []string
		if xff != "" {
			xs = []string{xff}
		}
		if fwd != "" {
			fs = []string{fwd}
		}
		got, ok := runClientIP(remote, xs, fs, testProxies)
		peer, peerOK := RemoteIP(&http.Request{RemoteAddr: remote})
		if ok != peerOK {
			t.Fatalf("stored=%v but RemoteIP ok=%v", ok, peerOK)
		}
		if !ok {
			return
		}
		if got.Zone() != "" || got.Is4In6() {
			t.Fatalf("address %v not normalized", got)
		}
		if !isTrusted(peer, testProxies) && got != peer {
			t.Fatalf("untrusted peer %v chose address %v through headers", peer, got)
		}
	})
}

// FuzzRemoteIP: RemoteIP's shortcut for "host:port" finds what parseHop
// finds for every string.
func FuzzRemoteIP(f *testing.F) {
	for _, s := range []string{"192.0.2.7:1000", "[2001:db8::1]:443", "[fe80::1%eth0]:80", "[::ffff:192.0.2.1]:1",
		"192.0.2.7", "2001:db8::1", "::1:80", " 192.0.2.7:1", "192.0.2.7:99999", "[192.0.2.7]:1", "host:80", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := RemoteIP(&http.Request{RemoteAddr: s})
		want, wantOK := parseHop(s)
		if got != want || ok != wantOK {
			t.Fatalf("RemoteIP(%q) = %v, %v; parseHop: %v, %v", s, got, ok, want, wantOK)
		}
	})
}

func TestRemoteIPAllocs(t *testing.T) {
	if redistest.RaceEnabled {
		t.Skip("allocation counts need a build without -race")
	}
	r := &http.Request{RemoteAddr: "192.0.2.7:1000"}
	if n := testing.AllocsPerRun(100, func() { _, _ = RemoteIP(r) }); n != 0 {
		t.Errorf("RemoteIP of host:port: %v allocations, want 0", n)
	}
}
