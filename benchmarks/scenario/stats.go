package scenario

// Stats is what the load-test server reports on /__bench/stats: totals since
// it started. The runner takes differences of two reports.
type Stats struct {
	// Requests counts the measured GET / requests, by status class below.
	// A 5xx answered to a client that had gone (its request's context
	// ended: wrk closes its connections at the end of a run) is counted in
	// Gone5xx instead of Status5xx: nobody received it.
	Requests  int64 `json:"requests"`
	Status2xx int64 `json:"status_2xx"`
	Status3xx int64 `json:"status_3xx"`
	Status4xx int64 `json:"status_4xx"`
	Status5xx int64 `json:"status_5xx"`
	Gone5xx   int64 `json:"gone_5xx"`
	// Unanswered counts requests whose client had gone and that were
	// answered nothing (redisware answers a hung-up client nothing, and
	// its session middleware stops before the handler): neither a 2xx
	// nor an increment.
	Unanswered int64 `json:"unanswered"`
	// Panics counts handler panics (also counted as 5xx).
	Panics int64 `json:"panics"`
	// Wrong, Origin and FailOpen are Built's counters.
	Wrong    int64 `json:"wrong"`
	Origin   int64 `json:"origin"`
	FailOpen int64 `json:"fail_open"`
	// RoundTrips is the RoundTrips hook's count.
	RoundTrips int64 `json:"round_trips"`
	// Mallocs and AllocBytes are runtime.MemStats.Mallocs and TotalAlloc.
	Mallocs    uint64 `json:"mallocs"`
	AllocBytes uint64 `json:"alloc_bytes"`
	// CPUNanos is the process' user plus system CPU time.
	CPUNanos   int64 `json:"cpu_ns"`
	Goroutines int   `json:"goroutines"`
	// InFlight is the number of measured requests being served: wrk may
	// have hung up on them, but the handler still runs (a session save
	// outlives its client), so a counter read back before they end can
	// miss their increments.
	InFlight int64 `json:"in_flight"`
}
