package ratelimit

import (
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// tatLRU maps a decision key (hashed client key + the route's limits) to
// the state of each limit: a pair (base, debt), the debt in the limit's
// units at base in nanoseconds of the local clock (see debtAt). It is bounded: past its size the least recently used entry goes.
// The deny cache and the in-process fallback limiter each have one.
//
// It is hashicorp/golang-lru's simplelru under one mutex: its expirable
// LRU does not fit, as it gives every entry one TTL, reads the wall clock
// rather than Options.Now, and runs a goroutine per cache that never ends.
// Entries here end by their own debts, checked by the caller.
type tatLRU struct {
	size int // most entries kept
	mu   sync.Mutex
	c    *simplelru.LRU[string, []int64]
}

// newTATLRU returns a tatLRU of size entries; size must be positive.
func newTATLRU(size int) (*tatLRU, error) {
	c, err := simplelru.NewLRU[string, []int64](size, nil)
	if err != nil {
		return nil, err
	}
	return &tatLRU{size: size, c: c}, nil
}

// get returns the state stored under key. The slice is never modified after
// it is stored, so the caller may read it without the lock.
func (c *tatLRU) get(key string) ([]int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c.Get(key)
}

// put stores tats under key, evicting the least recently used entry when
// full.
func (c *tatLRU) put(key string, tats []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c.Add(key, tats)
}

// remove forgets key.
func (c *tatLRU) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c.Remove(key)
}

// update runs fn on the state stored under key (nil if none) under the
// lock, and stores what it returns unless that is nil.
func (c *tatLRU) update(key string, fn func(old []int64) []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, _ := c.c.Peek(key)
	if nw := fn(old); nw != nil {
		c.c.Add(key, nw)
	}
}

// len returns the number of entries.
func (c *tatLRU) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c.Len()
}
