package session

import (
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// cookieCacheSize bounds the cookie values a Manager remembers as
// verified: about 400 bytes each (the value, the ID, the LRU's links).
const cookieCacheSize = 8192

// cookieCache remembers cookie values that verified (HMAC, decryption,
// the ID's size), with the ID each carries and the time securecookie
// signed into it, so a visitor's cookie costs that work once per process
// rather than once per request. Only values that verified go in, under
// their exact text, so an entry says nothing a fresh check would not:
// what a fresh check would decide differently with time, the cookie's
// age, is checked again on every hit (see codec.decode). It trusts
// nothing about the session itself, which Redis decides on every request
// (a destroyed or renewed session is not found there, whatever the
// cookie).
//
// It is hashicorp/golang-lru's simplelru under one mutex, bounded: past
// its size the least recently used entry goes.
type cookieCache struct {
	mu sync.Mutex
	c  *simplelru.LRU[string, verified]
}

// verified is what a cookie value that verified carries.
type verified struct {
	id     string // the session ID, in key form
	signed int64  // the signed timestamp, Unix seconds
}

func newCookieCache(size int) *cookieCache {
	c, err := simplelru.NewLRU[string, verified](size, nil)
	if err != nil {
		panic("session: " + err.Error()) // size is a positive constant
	}
	return &cookieCache{c: c}
}

func (c *cookieCache) get(value string) (verified, bool) {
	c.mu.Lock()
	v, ok := c.c.Get(value)
	c.mu.Unlock()
	return v, ok
}

func (c *cookieCache) put(value string, v verified) {
	c.mu.Lock()
	c.c.Add(value, v)
	c.mu.Unlock()
}

func (c *cookieCache) remove(value string) {
	c.mu.Lock()
	c.c.Remove(value)
	c.mu.Unlock()
}
