package cachehandler

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
)

func BenchmarkCache(b *testing.B) {
	be := redistest.Start(b)
	c, _ := testCache(b, be.Client(), be.Prefix, testNewClock(), nil)
	for _, size := range []int{1 << 10, 32 << 10} {
		b.Run("hit/"+strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
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
	i := 0 // outside the closure: b.Run may call it again, and a reused URL would hit
	b.Run("miss/1KiB", func(b *testing.B) {
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
