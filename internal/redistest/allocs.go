package redistest

import (
	"math"
	"runtime"
	"testing"
)

// allocsPerCall returns the heap allocations per call of fn, unrounded:
// the least of three measurements of runs calls each, after one call to
// warm up.
//
// testing.AllocsPerRun counts every allocation in the process and
// truncates the mean to a whole number. Next to a go-redis client, other
// goroutines allocate at moments no test controls (the autopipeliner's
// flusher, the connection pool's reaper, miniredis's server and its Lua
// interpreter), so a path whose true cost is 53.98 reads 53 in one run and
// 54 in the next. Their noise only ever adds, so the least of three is the
// path's own cost, and the fraction is kept for CheckAllocs to round.
//
// Measured over many processes, a path through the client's autopipeliner
// also settles, per process, on one of two costs a whole allocation (at
// most two) apart; a budget is the higher of them.
func allocsPerCall(runs int, fn func()) float64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	fn()
	least := math.Inf(1)
	var ms runtime.MemStats
	for range 3 {
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		for range runs {
			fn()
		}
		runtime.ReadMemStats(&ms)
		least = min(least, float64(ms.Mallocs-before)/float64(runs))
	}
	return least
}

// Budget is a path's allowed heap allocations per call on each backend:
// on miniredis the count includes the in-process server's own work (its
// Lua interpreter above all), on a real server only the client's.
type Budget struct{ Mini, Real float64 }

// CheckAllocs measures fn with allocsPerCall and fails t when the result,
// rounded to the nearest whole allocation, exceeds its budget for the
// backend in use; it logs both either way. Rounding keeps a path whose cost is its
// budget within it whichever side of the whole number the noise puts it,
// and still fails a change that adds one allocation.
func (b *Backend) CheckAllocs(t testing.TB, what string, budgets Budget, fn func()) {
	t.Helper()
	budget := budgets.Mini
	if b.Real() {
		budget = budgets.Real
	}
	got := allocsPerCall(200, fn)
	t.Logf("%s: %.2f allocations (budget %.0f)", what, got, budget)
	if math.Round(got) > budget {
		t.Errorf("%s: %.2f allocations, over the budget of %.0f", what, got, budget)
	}
}
