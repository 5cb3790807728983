package ratelimit

import (
	"slices"
	"testing"
)

// TestTATLRU: the least recently used entry goes first; get and put make
// an entry recent, an update that stores nothing does not.
func TestTATLRU(t *testing.T) {
	c, err := newTATLRU(2)
	if err != nil {
		t.Fatal(err)
	}
	c.put("a", []int64{1})
	c.put("b", []int64{2})
	if _, ok := c.get("a"); !ok { // a is now more recent than b
		t.Fatal("a missing")
	}
	c.put("c", []int64{3}) // evicts b
	if _, ok := c.get("b"); ok {
		t.Fatal("b survived; the least recently used should go")
	}
	c.update("a", func(old []int64) []int64 { // reads a, stores nothing: c stays most recent
		if !slices.Equal(old, []int64{1}) {
			t.Errorf("update saw %v", old)
		}
		return nil
	})
	c.put("d", []int64{5}) // evicts a, not c
	if _, ok := c.get("a"); ok {
		t.Fatal("a survived: an update that stored nothing made it recent")
	}
	c.update("c", func(old []int64) []int64 { return append(old, 4) })
	if v, ok := c.get("c"); !ok || !slices.Equal(v, []int64{3, 4}) {
		t.Fatalf("c = %v, %v", v, ok)
	}
	c.remove("c")
	if _, ok := c.get("c"); ok || c.len() != 1 { // d is left
		t.Fatalf("after remove: len %d", c.len())
	}
	if _, err := newTATLRU(0); err == nil {
		t.Fatal("a cache of size 0 was made")
	}
}
