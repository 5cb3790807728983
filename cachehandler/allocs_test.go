package cachehandler

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
)

// hitAllocBudget is the heap allocations per fresh 1 KiB hit that
// TestHitAllocationBudget allows, per backend (miniredis runs in-process,
// so its count includes the server's work). A change that allocates more
// fails; one that allocates less should lower it.
// Calls that reach Redis go through the client's autopipeliner (package
// internal/pipe); its submit and wait cost go-redis 11 to 14 allocations per
// command more than a direct call, and buy the throughput of shared round
// trips under load (see BENCHMARKS.md).
var hitAllocBudget = redistest.Budget{Mini: 58, Real: 45}

// TestHitAllocationBudget holds a fresh hit's allocations: one GET, the
// entry decoded, the response replayed.
func TestHitAllocationBudget(t *testing.T) {
	if testing.Short() || redistest.RaceEnabled {
		t.Skip("allocation counts need a normal build (no -short, no -race)")
	}
	be := redistest.Start(t)
	c, _ := testCache(t, be.Client(), be.Prefix, testNewClock(), nil)
	h := c.Middleware(testStatic(200, strings.Repeat("x", 1<<10), "Cache-Control", "max-age=3600", "Content-Type", "text/plain"))
	url := "http://example.com/allocs/hit"
	testDo(h, "GET", url)
	r := httptest.NewRequest("GET", url, nil)
	code, n := 0, 0
	serve := func() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		code, n = w.Code, w.Body.Len()
	}
	serve()
	be.CheckAllocs(t, "a 1 KiB hit", hitAllocBudget, serve)
	if code != http.StatusOK || n != 1<<10 {
		t.Fatalf("status %d, %d bytes", code, n)
	}
}
