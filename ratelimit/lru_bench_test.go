package ratelimit

import (
	"strconv"
	"sync"
	"testing"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/redisware/redisware/internal/keys"
)

// libLRU is tatLRU's API on hashicorp/golang-lru's simplelru, under one
// mutex, for the comparison below.
type libLRU struct {
	mu sync.Mutex
	c  *simplelru.LRU[string, []int64]
}

func newLibLRU(max int) *libLRU {
	c, err := simplelru.NewLRU[string, []int64](max, nil)
	if err != nil {
		panic(err)
	}
	return &libLRU{c: c}
}

func (l *libLRU) get(key string) ([]int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.Get(key)
}

func (l *libLRU) put(key string, tats []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.c.Add(key, tats)
}

func (l *libLRU) remove(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.c.Remove(key)
}

type lruUnderTest interface {
	get(string) ([]int64, bool)
	put(string, []int64)
	remove(string)
}

// BenchmarkLRUCompare measures the deny cache's operations on a full
// cache of DefaultCacheSize keys shaped like decision keys: a hit, adding
// a new key (which evicts the oldest), replacing a key's TATs, and a
// removal followed by the add that puts it back.
func BenchmarkLRUCompare(b *testing.B) {
	const size = DefaultCacheSize
	ks := make([]string, 2*size)
	sig := string(appendSig(nil, []Limit{PerHour(1), PerDay(1)}))
	for i := range ks {
		ks[i] = keys.Hash(strconv.Itoa(i)) + sig
	}
	tats := []int64{1, 2}
	impls := []struct {
		name string
		new  func() lruUnderTest
	}{
		{"list", func() lruUnderTest { return newTATLRU(size) }},
		{"simplelru", func() lruUnderTest { return newLibLRU(size) }},
	}
	for _, im := range impls {
		full := func() lruUnderTest {
			c := im.new()
			for _, k := range ks[:size] {
				c.put(k, tats)
			}
			return c
		}
		b.Run("get-hit/"+im.name, func(b *testing.B) {
			c := full()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := c.get(ks[i%size]); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
		b.Run("add-evict/"+im.name, func(b *testing.B) {
			c := full()
			b.ReportAllocs()
			i := size
			for b.Loop() {
				c.put(ks[i%len(ks)], tats)
				i++
			}
		})
		b.Run("replace/"+im.name, func(b *testing.B) {
			c := full()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c.put(ks[i%size], tats)
				i++
			}
		})
		b.Run("remove-add/"+im.name, func(b *testing.B) {
			c := full()
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
}
