package cachehandler

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/redisware/redisware/internal/keys"
)

func TestHTTPNormalURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://Example.COM:80/a?b=2&a=1", "http://example.com/a?a=1&b=2"},
		{"https://example.com:443", "https://example.com/"},
		{"https://example.com:8443/x", "https://example.com:8443/x"},
		{"http://example.com/a%20b?q=%zz", "http://example.com/a%20b?q=%zz"},
		{"http://example.com/?a=1&a=0", "http://example.com/?a=1&a=0"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := normalURL(u); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.in, got, tt.want)
		}
	}
	r := httptest.NewRequest("GET", "/p?x=1", nil)
	r.Host = "Example.com"
	if got := normalURL(requestURL(r)); got != "http://example.com/p?x=1" {
		t.Errorf("server request: %s", got)
	}
}

func TestHTTPVaryNames(t *testing.T) {
	tests := []struct {
		h     http.Header
		names []string
		star  bool
	}{
		{http.Header{"Vary": {"Accept-Encoding, accept", "ACCEPT"}}, []string{"accept", "accept-encoding"}, false},
		{http.Header{"Vary": {"Accept, *"}}, nil, true},
		{http.Header{}, nil, false},
	}
	for _, tt := range tests {
		names, star := varyNames(tt.h)
		if star != tt.star || !reflect.DeepEqual(names, tt.names) {
			t.Errorf("%v: %v %v", tt.h, names, star)
		}
	}
}

func TestKeySet(t *testing.T) {
	c := &Cache{opt: Options{Prefix: "p:"}}
	for _, raw := range []string{"http://Example.com/a?b=2&a=1", "http://example.com/" + strings.Repeat("long/", 100) + "?q=1"} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		n := normalURL(u)
		h := keys.Hash(n)
		k := c.keysForURL(u)
		if k != c.keysFor(n) {
			t.Errorf("%s: keysForURL %+v, keysFor %+v", raw, k, c.keysFor(n))
		}
		base := "p:{" + h + "}"
		if k.hash != h || k.base != base || k.fill != h || k.vid != "" {
			t.Errorf("%s: %+v", raw, k)
		}
		if k.lockKey() != base+":lock" || k.variantsKey() != base+":variants" || k.genKey() != base+":gen" {
			t.Errorf("%s: lock %q, variants %q, gen %q", raw, k.lockKey(), k.variantsKey(), k.genKey())
		}
		v := k.forVariant(base + ":v:abc")
		if v.vid != "abc" || v.fill != h+":abc" || v.lockKey() != base+":lock:abc" || v.base != base || v.hash != h {
			t.Errorf("%s: variant %+v, lock %q", raw, v, v.lockKey())
		}
		for _, other := range []string{"", "p:{" + keys.Hash("x") + "}:v:abc", base + ":v:", base + ":x:abc"} {
			if got := k.forVariant(other); got != k {
				t.Errorf("forVariant(%q) = %+v, want the URL's keys", other, got)
			}
		}
	}
}

func TestVariantKey(t *testing.T) {
	k := (&Cache{opt: Options{Prefix: "p:"}}).keysFor("http://example.com/")
	names := []string{"accept", "accept-encoding"}
	key := func(kv ...string) string {
		r := httptest.NewRequest("GET", "/", nil)
		for i := 0; i+1 < len(kv); i += 2 {
			r.Header.Add(kv[i], kv[i+1])
		}
		return k.variantKey(names, r)
	}
	tests := []struct {
		name string
		a, b []string
		same bool
	}{
		{"whitespace around commas", []string{"Accept", "a,b"}, []string{"Accept", " a , b"}, true},
		{"field lines combined", []string{"Accept", "a, b"}, []string{"Accept", "a", "Accept", "b"}, true},
		{"other value", []string{"Accept", "a"}, []string{"Accept", "b"}, false},
		{"absent is not empty", nil, []string{"Accept", ""}, false},
		{"value is not another field's", []string{"Accept", "gzip"}, []string{"Accept-Encoding", "gzip"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := key(tt.a...) == key(tt.b...); got != tt.same {
				t.Fatalf("same key = %v, want %v", got, tt.same)
			}
		})
	}
}

func TestHintsBounded(t *testing.T) {
	c := &Cache{hints: map[string][]string{}}
	for i := 0; i <= maxHints; i++ {
		c.setHint(strconv.Itoa(i), []string{"accept"})
	}
	if len(c.hints) != maxHints || c.hint(strconv.Itoa(maxHints)) == nil {
		t.Fatalf("%d hints; newest kept: %v", len(c.hints), c.hint(strconv.Itoa(maxHints)) != nil)
	}
}
