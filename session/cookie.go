package session

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// idBytes is the size of a session ID: 256 bits from crypto/rand.
const idBytes = 32

// maxCookieValue bounds the cookie values decodeID looks at; a real one is
// about 150 bytes. Anything longer is rejected before any decoding work.
const maxCookieValue = 512

// maxCookieTries bounds how many cookies of our name one request may make
// us verify (cookie tossing can send several).
const maxCookieTries = 3

var errCookie = errors.New("session: invalid cookie")

// codec signs (and, with a block key, encrypts) session IDs.
type codec struct {
	name   string
	codecs []securecookie.Codec
	maxAge int64 // seconds; the codecs' MaxAge

	cache *cookieCache // values that verified
	// now is the clock cached values' age is checked with: securecookie's,
	// Unix seconds of time.Now. Tests replace it.
	now func() int64
}

func newCodec(name string, keys [][]byte, lifetime time.Duration) (*codec, error) {
	pairs := make([][]byte, len(keys))
	for i, k := range keys {
		if len(k) > 0 {
			pairs[i] = k
		}
	}
	cs := securecookie.CodecsFromPairs(pairs...)
	// The signed timestamp bounds a cookie's age too: a little more than
	// Lifetime, for clock skew between instances.
	maxAge := int((lifetime + time.Minute + time.Second - 1) / time.Second)
	for _, c := range cs {
		sc := c.(*securecookie.SecureCookie)
		sc.SetSerializer(securecookie.NopEncoder{})
		sc.MaxLength(maxCookieValue)
		sc.MaxAge(maxAge)
	}
	c := &codec{name: name, codecs: cs, maxAge: int64(maxAge), cache: newCookieCache(cookieCacheSize), now: unixNow}
	// Every pair must work: encode with each so a bad key fails New, not a
	// request.
	for i, sc := range cs {
		if _, err := sc.Encode(name, make([]byte, idBytes)); err != nil {
			return nil, fmt.Errorf("session: key pair %d: %w", i, err)
		}
	}
	return c, nil
}

// encode returns the cookie value for id (the raw 32 bytes).
func (c *codec) encode(id []byte) (string, error) {
	v, err := securecookie.EncodeMulti(c.name, id, c.codecs...)
	if err != nil {
		return "", fmt.Errorf("session: encode cookie: %w", err)
	}
	return v, nil
}

func unixNow() int64 { return time.Now().Unix() }

// decode verifies a cookie value and returns the session ID it carries,
// in its key form. It never touches Redis. A value that verified before
// is taken from the cache, and only its age is checked again, as
// securecookie checks it: expired when signed more than MaxAge seconds
// before now.
func (c *codec) decode(value string) (string, error) {
	if len(value) == 0 || len(value) > maxCookieValue {
		return "", errCookie
	}
	if v, ok := c.cache.get(value); ok {
		if v.signed < c.now()-c.maxAge {
			c.cache.remove(value)
			return "", errCookie
		}
		return v.id, nil
	}
	v, err := c.verify(value)
	if err != nil {
		return "", err
	}
	// A copy: value may be part of a whole Cookie header line.
	c.cache.put(strings.Clone(value), v)
	return v.id, nil
}

// verify is decode without the cache: securecookie's checks (signature,
// age, decryption) and the ID's size.
func (c *codec) verify(value string) (verified, error) {
	var raw []byte
	if err := securecookie.DecodeMulti(c.name, value, &raw, c.codecs...); err != nil {
		return verified{}, errCookie
	}
	if len(raw) != idBytes {
		return verified{}, errCookie
	}
	signed, ok := signedAt(value)
	if !ok {
		return verified{}, errCookie // cannot be: securecookie parsed it
	}
	return verified{id: base64.RawURLEncoding.EncodeToString(raw), signed: signed}, nil
}

// signedAt returns the timestamp securecookie signed into a value that
// verified: the value is base64 (URL alphabet, padded) of "time|data|mac",
// time in decimal Unix seconds, so the first 24 characters hold it.
func signedAt(value string) (int64, bool) {
	var src [24]byte
	n := copy(src[:], value)
	n -= n % 4
	var dst [18]byte
	m, err := base64.URLEncoding.Decode(dst[:], src[:n])
	if err != nil {
		return 0, false
	}
	i := bytes.IndexByte(dst[:m], '|')
	if i < 0 {
		return 0, false
	}
	t, err := strconv.ParseInt(string(dst[:i]), 10, 64)
	return t, err == nil
}

// fromRequest returns the session ID of the first of r's cookies (of our
// name) that verifies.
func (c *codec) fromRequest(r *http.Request) (string, bool) {
	tries := 0
	for _, ck := range r.CookiesNamed(c.name) {
		if tries == maxCookieTries {
			break
		}
		tries++
		if id, err := c.decode(ck.Value); err == nil {
			return id, true
		}
	}
	return "", false
}

// newID returns a fresh session ID in its key form (43 characters of
// base64url, no padding).
func newID() string {
	var b [idBytes]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand aborts the program instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newNonce returns a random token that tells one save from another: 64
// random bits, sent (and stored in "m:op") in decimal. An int64 costs one
// allocation as a script argument, a string two.
func newNonce() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]))
}

// rawID returns the 32 bytes of an ID in key form.
func rawID(id string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(b) != idBytes {
		return nil, fmt.Errorf("session: malformed id")
	}
	return b, nil
}
