package ratelimit

import (
	"container/list"
	"sync"
)

// tatLRU maps a decision key (hashed client key + the route's limits) to
// one theoretical arrival time per limit, in microseconds of the local
// clock. It is bounded: past max entries the least recently used goes.
// The deny cache and the in-process fallback limiter each have one.
type tatLRU struct {
	mu  sync.Mutex
	max int
	ll  list.List
	m   map[string]*list.Element
}

type lruEntry struct {
	key  string
	tats []int64
}

func newTATLRU(max int) *tatLRU {
	return &tatLRU{max: max, m: make(map[string]*list.Element)}
}

// get returns the TATs stored under key. The slice is never modified after
// it is stored, so the caller may read it without the lock.
func (c *tatLRU) get(key string) ([]int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil, false
	}
	c.ll.MoveToFront(e)
	return e.Value.(*lruEntry).tats, true
}

// put stores tats under key, evicting the least recently used entry when
// full.
func (c *tatLRU) put(key string, tats []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(key, tats)
}

func (c *tatLRU) putLocked(key string, tats []int64) {
	if e, ok := c.m[key]; ok {
		e.Value.(*lruEntry).tats = tats
		c.ll.MoveToFront(e)
		return
	}
	c.m[key] = c.ll.PushFront(&lruEntry{key: key, tats: tats})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.m, last.Value.(*lruEntry).key)
	}
}

// remove forgets key.
func (c *tatLRU) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok {
		c.ll.Remove(e)
		delete(c.m, key)
	}
}

// update runs fn on the TATs stored under key (nil if none) under the
// lock, and stores what it returns unless that is nil.
func (c *tatLRU) update(key string, fn func(old []int64) []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var old []int64
	if e, ok := c.m[key]; ok {
		old = e.Value.(*lruEntry).tats
	}
	if nw := fn(old); nw != nil {
		c.putLocked(key, nw)
	}
}

// len returns the number of entries.
func (c *tatLRU) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
