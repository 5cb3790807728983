package redistest

import "testing"

// Allocs is an allocation budget of one path: how many allocations a call
// makes on each backend. On miniredis the server runs in the test's
// process, so its allocations count too.
type Allocs struct{ Mini, Real int }

// CheckAllocs fails t unless fn allocates exactly the budget of b's
// backend, measured with testing.AllocsPerRun over 200 runs after one to
// warm up. Budgets are exact, not bounds: a change that makes a path
// allocate less lowers its budget with it, so the next one that makes it
// allocate more is caught.
func (b *Backend) CheckAllocs(t testing.TB, name string, want Allocs, fn func()) {
	t.Helper()
	SkipAllocsUnderRace(t)
	w := want.Real
	if b.Mini != nil {
		w = want.Mini
	}
	if got := testing.AllocsPerRun(200, fn); got != float64(w) {
		t.Errorf("%s: %v allocations per call, budget %d", name, got, w)
	}
}

// SkipAllocsUnderRace skips t when the race detector is on: it changes
// allocation counts (sync.Pool drops entries at random under it, and
// go-redis pools its buffers). make test runs the allocation tests once
// more without it.
func SkipAllocsUnderRace(t testing.TB) {
	t.Helper()
	if raceEnabled {
		t.Skip("allocation counts are not exact under the race detector")
	}
}
