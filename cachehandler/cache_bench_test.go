package cachehandler

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
)

// BenchmarkCache measures hits and stored misses, with no Observer and,
// in the observed cases, with one whose hooks count: what observing costs
// the cache itself.
func BenchmarkCache(b *testing.B) {
	be := redistest.Start(b)
	var n atomic.Int64
	counting := Observer{
		OnServe:     func(context.Context, ServeEvent) { n.Add(1) },
		OnStore:     func(context.Context, StoreEvent) { n.Add(1) },
		OnWait:      func(context.Context, WaitEvent) { n.Add(1) },
		OnPurge:     func(context.Context, PurgeEvent) { n.Add(1) },
		OnRedisCall: func(context.Context, middleware.RedisCall) { n.Add(1) },
		OnBreaker:   func(middleware.BreakerEvent) { n.Add(1) },
	}
	for _, o := range []struct {
		suffix string
		obs    Observer
	}{{"", Observer{}}, {"/observed", counting}} {
		c, _ := testCache(b, be.Client(), be.Prefix+o.suffix, testNewClock(), func(opt *Options) { opt.Observer = o.obs })
		for _, size := range []int{1 << 10, 32 << 10} {
			b.Run("hit/"+strconv.Itoa(size>>10)+"KiB"+o.suffix, func(b *testing.B) {
				body := strings.Repeat("x", size)
				h := c.Middleware(testStatic(200, body, "Cache-Control", "max-age=3600", "Content-Type", "text/plain"))
				url := "http://example.com/bench/hit/" + strconv.Itoa(size)
				testDo(h, "GET", url)
				r := httptest.NewRequest("GET", url, nil)
				b.ReportAllocs()
				b.SetBytes(int64(size))
				b.ResetTimer()
				for b.Loop() {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != http.StatusOK || w.Body.Len() != size {
						b.Fatalf("%d, %d bytes", w.Code, w.Body.Len())
					}
				}
			})
		}
		if o.suffix == "" {
			// 32 clients on one URL, as in the load test: concurrent hits
			// share one Redis read, so what each costs is mostly the
			// cache's own work.
			for _, size := range []int{1 << 10, 32 << 10} {
				b.Run("hit/"+strconv.Itoa(size>>10)+"KiB/parallel", func(b *testing.B) {
					body := strings.Repeat("x", size)
					h := c.Middleware(testStatic(200, body, "Cache-Control", "max-age=3600", "Content-Type", "text/plain"))
					url := "http://example.com/bench/hit-parallel/" + strconv.Itoa(size)
					testDo(h, "GET", url)
					b.ReportAllocs()
					b.SetBytes(int64(size))
					b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						r := httptest.NewRequest("GET", url, nil)
						for pb.Next() {
							w := httptest.NewRecorder()
							h.ServeHTTP(w, r)
							if w.Code != http.StatusOK || w.Body.Len() != size {
								b.Errorf("%d, %d bytes", w.Code, w.Body.Len())
								return
							}
						}
					})
				})
			}
		}
		i := 0 // outside the closure: b.Run may call it again, and a reused URL would hit
		b.Run("miss/1KiB"+o.suffix, func(b *testing.B) {
			h := c.Middleware(testStatic(200, strings.Repeat("x", 1<<10), "Cache-Control", "max-age=60"))
			testDo(h, "GET", "http://example.com/bench/warm") // loads the scripts
			b.ReportAllocs()
			for b.Loop() {
				i++
				w := testDo(h, "GET", "http://example.com/bench/miss/"+strconv.Itoa(i))
				if !strings.Contains(w.Header().Get("Cache-Status"), "stored") {
					b.Fatalf("Cache-Status %q", w.Header().Get("Cache-Status"))
				}
			}
		})
	}
}
