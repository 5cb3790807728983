package cachehandler

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
)

// TestAllocs holds the middleware's paths to their allocation budgets with
// no Observer set: the counts measured before the observer hooks existed,
// so an unset Observer costs nothing. (BenchmarkCache/observed measures a
// set one.)
func TestAllocs(t *testing.T) {
	redistest.SkipAllocsUnderRace(t)
	b := redistest.Start(t)
	c, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), nil)
	h := c.Middleware(testStatic(200, strings.Repeat("x", 1024), "Cache-Control", "max-age=3600", "Content-Type", "text/plain"))
	const url = "http://example.com/allocs/hit"
	testDo(h, "GET", url)
	hit := httptest.NewRequest("GET", url, nil)
	b.CheckAllocs(t, "hit", redistest.Allocs{Mini: 62, Real: 49}, func() { h.ServeHTTP(httptest.NewRecorder(), hit) })
	options := httptest.NewRequest("OPTIONS", url, nil)
	b.CheckAllocs(t, "bypass", redistest.Allocs{Mini: 12, Real: 12}, func() { h.ServeHTTP(httptest.NewRecorder(), options) })
	i := 0
	b.CheckAllocs(t, "miss, stored", redistest.Allocs{Mini: 1874, Real: 164}, func() {
		i++
		testDo(h, "GET", fmt.Sprintf("http://example.com/allocs/miss/%06d", i))
	})
}
