package middleware

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
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
		{name: "join", fn: JoinKeys(KeyByIP, KeyByPath), remote: "1.1.1.1:1", path: "/x", want: "7:1.1.1.1,2:/x"},
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

// fixed returns a KeyFunc of fixed keys, one per call of JoinKeys' parts.
func fixed(k string) KeyFunc {
	return func(*http.Request) (string, error) { return k, nil }
}

func join(parts ...string) string {
	fns := make([]KeyFunc, len(parts))
	for i, p := range parts {
		fns[i] = fixed(p)
	}
	k, err := JoinKeys(fns...)(httptest.NewRequest("GET", "/", nil))
	if err != nil {
		panic(err)
	}
	return k
}

// TestJoinKeysInjective: lists of parts that differ never make the same
// key, whatever separators the parts hold. Joining with ':' failed the
// first five cases.
func TestJoinKeysInjective(t *testing.T) {
	tests := []struct {
		name string
		a, b []string
	}{
		{"colon moves between parts", []string{"a:b", "c"}, []string{"a", "b:c"}},
		{"trailing colon or empty part", []string{"a:"}, []string{"a", ""}},
		{"leading colon or empty part", []string{":a"}, []string{"", "a"}},
		{"two empty parts or one colon", []string{"", ""}, []string{":"}},
		{"ip and path", []string{"2001:db8::/64", "/x"}, []string{"2001:db8:", "/64:/x"}},
		// Parts that look like the encoding itself.
		{"one part that looks like two", []string{"1:a,1:b"}, []string{"a", "b"}},
		{"one part that looks like one", []string{"1:a"}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, kb := join(tt.a...), join(tt.b...)
			if ka == kb {
				t.Fatalf("%q and %q both make %q", tt.a, tt.b, ka)
			}
		})
	}
}

// splitJoined decodes a JoinKeys key into its parts, reporting false when
// it is not one JoinKeys makes.
func splitJoined(k string) ([]string, bool) {
	var parts []string
	for i := 0; i < len(k); {
		if i > 0 {
			if k[i] != ',' {
				return nil, false
			}
			i++
		}
		j := strings.IndexByte(k[i:], ':')
		if j < 1 {
			return nil, false
		}
		n, err := strconv.Atoi(k[i : i+j])
		if err != nil || n < 0 || i+j+1+n > len(k) {
			return nil, false
		}
		i += j + 1
		parts = append(parts, k[i:i+n])
		i += n
	}
	return parts, true
}

// FuzzJoinKeys checks that every key JoinKeys makes decodes to exactly
// the parts it was made of, so no two lists of parts share a key, and
// that it is no longer than the parts plus 21 bytes each.
func FuzzJoinKeys(f *testing.F) {
	f.Add("a:b", "c", "")
	f.Add("a", "b:c", ",")
	f.Add("2001:db8::/64", "/login", "12:x,3:")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		for _, parts := range [][]string{{a}, {a, b}, {a, b, c}} {
			k := join(parts...)
			got, ok := splitJoined(k)
			if !ok || !slices.Equal(got, parts) {
				t.Fatalf("JoinKeys(%q) = %q, which decodes to %q (%v)", parts, k, got, ok)
			}
			size := 0
			for _, p := range parts {
				size += len(p) + 21
			}
			if len(k) > size {
				t.Fatalf("JoinKeys(%q) is %d bytes long", parts, len(k))
			}
		}
	})
}
