package redistest

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds and fails the test if it does not
// within 30 s: a bound for a broken build, not a speed assumption (a
// loaded machine running -race at GOMAXPROCS=1 beside other packages can
// take seconds over what is a millisecond when quiet). It is for what a
// test cannot be told about, only observe, such as a server noticing that
// a connection closed; anything with an event or channel to wait on should
// wait on that instead.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
