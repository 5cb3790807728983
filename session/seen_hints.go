package session

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// seenHintsSize bounds the sessions a Manager remembers the last idle
// refresh of: about 100 bytes each.
const seenHintsSize = 16384

// seenHints remembers, per session ID, the "m:seen" time this process last
// read or wrote: when the session's idle expiry was last moved. A load
// whose hint is less than a quarter of IdleTimeout old knows no refresh is
// due, so it reads the hash with one HGETALL instead of running the load
// script (two commands in Redis, and a script run). A hint can only be
// older than the truth (m:seen only moves forward, and only by what some
// instance wrote), so at worst a load runs the script when a plain read
// would have done; a load without a hint (a session this process has not
// seen, or one the LRU dropped) runs the script.
//
// It is hashicorp/golang-lru's simplelru under one mutex, bounded: past
// its size the least recently used entry goes.
type seenHints struct {
	mu sync.Mutex
	c  *simplelru.LRU[string, int64] // ID → m:seen in Unix ms
}

func newSeenHints(size int) *seenHints {
	c, err := simplelru.NewLRU[string, int64](size, nil)
	if err != nil {
		panic("session: " + err.Error()) // size is a positive constant
	}
	return &seenHints{c: c}
}

func (h *seenHints) get(id string) (time.Time, bool) {
	h.mu.Lock()
	ms, ok := h.c.Get(id)
	h.mu.Unlock()
	return time.UnixMilli(ms), ok
}

func (h *seenHints) put(id string, seen time.Time) {
	h.mu.Lock()
	h.c.Add(id, seen.UnixMilli())
	h.mu.Unlock()
}

func (h *seenHints) remove(id string) {
	h.mu.Lock()
	h.c.Remove(id)
	h.mu.Unlock()
}
