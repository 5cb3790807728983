package scenario

import (
	"sync/atomic"
	"testing"
)

// BenchmarkScenarios measures each implementation of each scenario in
// process, one request at a time, on miniredis or REDIS_URL: the cost of
// the handler and its client per request (ns, B and allocs per op) and the
// Redis round trips it makes (rt/op), without the load generator, the
// network stack or concurrency. `make loadtest` measures the same handlers
// under load; CI runs these once each (-benchtime=1x) so they cannot rot.
func BenchmarkScenarios(b *testing.B) {
	benchCells(b, func(b *testing.B, c *cell, want int) int64 {
		i := 0
		for b.Loop() {
			if w := c.serve(i); w.Code != want {
				b.Fatalf("request %d: status %d, want %d: %s", i, w.Code, want, w.Body.String())
			}
			i++
		}
		return int64(i)
	})
}

// BenchmarkScenariosParallel is BenchmarkScenarios with 16 goroutines per
// GOMAXPROCS sending requests at once, as wrk's 32 connections do on two
// cores: the handler's cost when concurrent requests share round trips
// (batched decisions, shared cache reads, autopipelining), still without
// the network stack or the load generator. It is the in-process side of a
// load-test row: ns/op here is the handler's share of a request's CPU.
func BenchmarkScenariosParallel(b *testing.B) {
	benchCells(b, func(b *testing.B, c *cell, want int) int64 {
		var n atomic.Int64
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(n.Add(1))
				if w := c.serve(i); w.Code != want {
					b.Errorf("request %d: status %d, want %d: %s", i, w.Code, want, w.Body.String())
					return
				}
			}
		})
		return n.Load()
	})
}

// benchCells runs measure as a sub-benchmark of every implementation of
// every scenario, on a primed cell, and reports the round trips per
// request of the n requests measure says it sent.
func benchCells(b *testing.B, measure func(b *testing.B, c *cell, want int) (n int64)) {
	for _, s := range All {
		for _, impl := range s.Impls {
			b.Run(s.Name+"/"+impl, func(b *testing.B) {
				c := newCell(b, s, impl)
				c.prime(b)
				start := c.rt.N()
				b.ReportAllocs()
				b.ResetTimer()
				n := measure(b, c, wantStatus(s))
				b.ReportMetric(float64(c.rt.N()-start)/float64(max(n, 1)), "rt/op")
			})
		}
	}
}
