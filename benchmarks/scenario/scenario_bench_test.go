package scenario

import (
	"testing"
)

// BenchmarkScenarios measures each implementation of each scenario in
// process, one request at a time, on miniredis or REDIS_URL: the cost of
// the handler and its client per request (ns, B and allocs per op) and the
// Redis round trips it makes (rt/op), without the load generator, the
// network stack or concurrency. `make loadtest` measures the same handlers
// under load; CI runs these once each (-benchtime=1x) so they cannot rot.
func BenchmarkScenarios(b *testing.B) {
	for _, s := range All {
		for _, impl := range s.Impls {
			b.Run(s.Name+"/"+impl, func(b *testing.B) {
				c := newCell(b, s, impl)
				c.prime(b)
				want := wantStatus(s)
				start := c.rt.N()
				i := 0
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if w := c.serve(i); w.Code != want {
						b.Fatalf("request %d: status %d, want %d: %s", i, w.Code, want, w.Body.String())
					}
					i++
				}
				b.ReportMetric(float64(c.rt.N()-start)/float64(i), "rt/op")
			})
		}
	}
}
