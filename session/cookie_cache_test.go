package session

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"
)

func (c *cookieCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c.Len()
}

func testCodec(t *testing.T, lifetime time.Duration) *codec {
	t.Helper()
	c, err := newCodec("session", testKeys, lifetime)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCookieCacheAge checks that a cached cookie expires as securecookie
// would have it: valid while signed at most MaxAge seconds before now.
func TestCookieCacheAge(t *testing.T) {
	c := testCodec(t, time.Hour)
	before := time.Now().Unix()
	value, err := c.encode(bytes.Repeat([]byte{3}, idBytes))
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Unix()
	id, err := c.decode(value)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := c.cache.get(value)
	if !ok || v.id != id {
		t.Fatalf("cache holds %+v, %v after a decode of %q", v, ok, id)
	}
	if v.signed < before || v.signed > after {
		t.Fatalf("signed at %d, want within [%d, %d]", v.signed, before, after)
	}
	if c.maxAge != int64((time.Hour+time.Minute)/time.Second) {
		t.Fatalf("maxAge %d", c.maxAge)
	}
	for _, tc := range []struct {
		name string
		now  int64
		ok   bool
	}{
		{"just signed", v.signed, true},
		{"at MaxAge", v.signed + c.maxAge, true},
		{"past MaxAge", v.signed + c.maxAge + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.cache.put(value, v)
			c.now = func() int64 { return tc.now }
			got, err := c.decode(value)
			if (err == nil) != tc.ok || tc.ok && got != id {
				t.Fatalf("decode = %q, %v; want ok %v", got, err, tc.ok)
			}
			if _, cached := c.cache.get(value); cached != tc.ok {
				t.Fatalf("cached %v after the decode, want %v", cached, tc.ok)
			}
		})
	}
}

// TestCookieCacheOnlyVerified checks that values that do not verify never
// enter the cache, and that the cache is bounded.
func TestCookieCacheOnlyVerified(t *testing.T) {
	c := testCodec(t, time.Hour)
	valid, err := c.encode(bytes.Repeat([]byte{4}, idBytes))
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range badCookies(t, c, valid) {
		if id, err := c.decode(v); err == nil {
			t.Fatalf("%s: verified as %q", name, id)
		}
	}
	if n := c.cache.len(); n != 0 {
		t.Fatalf("%d values cached after only bad ones", n)
	}

	c.cache = newCookieCache(4)
	for i := range 10 {
		v, err := c.encode(bytes.Repeat([]byte{byte(i)}, idBytes))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.decode(v); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.cache.len(); n != 4 {
		t.Fatalf("%d values cached, want the bound, 4", n)
	}
}

func TestSignedAt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value string
		want  int64
		ok    bool
	}{
		{"timestamp", b64("1700000000|data|mac"), 1700000000, true},
		{"short", b64("1|x"), 1, true},
		{"no separator", b64("17000000001700000000000"), 0, false},
		{"not a number", b64("17x0000000|data|mac"), 0, false},
		{"not base64", "!!!!" + b64("1700000000|data|mac"), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := signedAt(tc.value)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("signedAt(%q) = %d, %v; want %d, %v", tc.value, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func b64(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }
