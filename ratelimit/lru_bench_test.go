package ratelimit

import (
	"strconv"
	"testing"

	"github.com/redisware/redisware/internal/keys"
)

// BenchmarkLRU measures the deny cache's operations on a full cache of
// DefaultCacheSize keys shaped like decision keys: a hit, adding a new key
// (which evicts the oldest), replacing a key's TATs, and a removal
// followed by the add that puts it back.
func BenchmarkLRU(b *testing.B) {
	const size = DefaultCacheSize
	ks := make([]string, 2*size)
	sig := string(appendSig(nil, []Limit{PerHour(1), PerDay(1)}))
	for i := range ks {
		ks[i] = keys.Hash(strconv.Itoa(i)) + sig
	}
	tats := []int64{1, 2}
	full := func(b *testing.B) *tatLRU {
		c, err := newTATLRU(size)
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range ks[:size] {
			c.put(k, tats)
		}
		return c
	}
	b.Run("get-hit", func(b *testing.B) {
		c := full(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := c.get(ks[i%size]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
	b.Run("add-evict", func(b *testing.B) {
		c := full(b)
		b.ReportAllocs()
		i := size
		for b.Loop() {
			c.put(ks[i%len(ks)], tats)
			i++
		}
	})
	b.Run("replace", func(b *testing.B) {
		c := full(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c.put(ks[i%size], tats)
			i++
		}
	})
	b.Run("remove-add", func(b *testing.B) {
		c := full(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := ks[i%size]
			c.remove(k)
			c.put(k, tats)
			i++
		}
	})
}
