package session

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/securecookie"
)

func TestKeyRotation(t *testing.T) {
	oldPair := [][]byte{bytes.Repeat([]byte("o"), 32), bytes.Repeat([]byte("p"), 32)}
	newPair := [][]byte{bytes.Repeat([]byte("n"), 64), nil} // signed only
	before := newEnv(t, Options{Keys: oldPair})
	c := before.newSessionCookie("kept", true)

	after := newEnvOn(t, before.b, before.rdb, Options{Keys: append(append([][]byte{}, newPair...), oldPair...), Now: before.clock.Now})
	if vals, _, _ := after.read(c); vals["kept"] != "true" {
		t.Fatalf("old cookie rejected after adding a key: %v", vals)
	}
	fresh := after.newSessionCookie("new", 1)
	if _, err := before.m.codec.decode(fresh.Value); err == nil {
		t.Fatal("a new cookie was signed with the old key")
	}
	if _, err := after.m.codec.decode(fresh.Value); err != nil {
		t.Fatal(err)
	}
	dropped := newEnvOn(t, before.b, before.rdb, Options{Keys: newPair, Now: before.clock.Now})
	dropped.n.Reset()
	if vals, _, _ := dropped.read(c); len(vals) != 0 || dropped.n.N() != 0 {
		t.Fatalf("old cookie accepted after its key was dropped (%d round trips)", dropped.n.N())
	}
}

// badCookies are cookie values that must yield a fresh session without a
// Redis call; they also seed the fuzz target. valid is a cookie c made.
func badCookies(t testing.TB, c *codec, valid string) map[string]string {
	short, err := c.encode([]byte("sixteen bytes id"))
	if err != nil {
		t.Fatal(err)
	}
	otherName := *c
	otherName.name = "other"
	renamed, err := otherName.encode(make([]byte, idBytes))
	if err != nil {
		t.Fatal(err)
	}
	flip := []byte(valid)
	flip[len(flip)/2] ^= 1
	return map[string]string{
		"empty":          "",
		"garbage":        "not a cookie",
		"base64 garbage": base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 90)),
		"tampered":       string(flip),
		"truncated":      valid[:len(valid)-4],
		"oversized":      valid + strings.Repeat("A", 8192),
		"wrong ID size":  short,
		"other name":     renamed,
		"pipes":          base64.URLEncoding.EncodeToString([]byte("1|2|3")),
	}
}

func TestBadCookies(t *testing.T) {
	e := newEnv(t, Options{})
	e.warm()
	for name, value := range badCookies(t, e.m.codec, e.newSessionCookie("a", 1).Value) {
		t.Run(name, func(t *testing.T) {
			e.n.Reset()
			rec, set := e.serve(func(w http.ResponseWriter, r *http.Request) {
				if id := FromContext(r.Context()).ID(); id != "" {
					t.Errorf("session has ID %q", id)
				}
			}, &http.Cookie{Name: "session", Value: value})
			if rec.Code != http.StatusOK || set != nil || e.n.N() != 0 {
				t.Fatalf("status %d, cookie %v, %d round trips", rec.Code, set, e.n.N())
			}
		})
	}
}

func TestUnknownIDIsNotAdopted(t *testing.T) {
	e := newEnv(t, Options{})
	raw := bytes.Repeat([]byte{9}, idBytes)
	v, err := e.m.codec.encode(raw)
	if err != nil {
		t.Fatal(err)
	}
	planted := &http.Cookie{Name: "session", Value: v}
	_, set := e.serve(func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Put("a", 1) }, planted)
	if set == nil {
		t.Fatal("no cookie")
	}
	if got := e.cookieID(set); got == base64.RawURLEncoding.EncodeToString(raw) {
		t.Fatal("the planted ID was adopted")
	}
}

func TestFirstValidCookieWins(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newSessionCookie("a", 1)
	req := httptestRequest()
	req.AddCookie(&http.Cookie{Name: "session", Value: "forged"})
	req.AddCookie(c)
	id, ok := e.m.codec.fromRequest(req)
	if !ok || id != e.cookieID(c) {
		t.Fatalf("fromRequest = %q, %v", id, ok)
	}
}

func FuzzDecodeCookie(f *testing.F) {
	// Keys of this process only: no input can verify but the cookie made
	// here, so any other value that does is a forgery.
	c, err := newCodec("session", [][]byte{securecookie.GenerateRandomKey(32), securecookie.GenerateRandomKey(32)}, DefaultLifetime)
	if err != nil {
		f.Fatal(err)
	}
	valid, err := c.encode(bytes.Repeat([]byte{1}, idBytes))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	for _, v := range badCookies(f, c, valid) {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, value string) {
		id, err := c.decode(value)
		if err != nil {
			if _, cached := c.cache.get(value); cached {
				t.Fatalf("value %q cached but rejected", value)
			}
			return
		}
		if value != valid {
			t.Fatalf("forged value %q verified as %q", value, id)
		}
		if _, err := rawID(id); err != nil {
			t.Fatal(err)
		}
		// Again, from the cache: the same answer.
		if again, err := c.decode(value); err != nil || again != id {
			t.Fatalf("cached decode = %q, %v; want %q", again, err, id)
		}
	})
}
