package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/redisware/redisware/benchmarks/scenario"
)

// targets are issue 13's goals for ours ÷ best peer (ratios to bare).
var targets = map[string]float64{
	"ratelimit-allow":    1.5,
	"ratelimit-allow-1k": 1.05,
	"ratelimit-deny":     2.2,
	"ratelimit-deny-1k":  2.2,
	"session-read":       1.4,
	"session-read-1k":    1.4,
	"session-write":      1.3,
	"session-write-1k":   1.3,
	"cache-hit-1k":       1.1,
	"cache-hit-32k":      1.5,
}

// report is a whole run: where, how, the raw cells and their medians.
type report struct {
	Machine machine      `json:"machine"`
	Params  runParams    `json:"params"`
	Results []cellResult `json:"results"`
	Rows    []row        `json:"rows"`
}

type runParams struct {
	Rounds   int    `json:"rounds"`
	Duration string `json:"duration"`
	Warmup   string `json:"warmup"`
	Threads  int    `json:"threads"`
	Conns    int    `json:"conns"`
}

// row is one implementation of one scenario over the rounds: medians of the
// rounds' figures, and the correctness counts added up.
type row struct {
	Scenario string `json:"scenario"`
	Impl     string `json:"impl"`
	Rounds   int    `json:"rounds"` // rounds that produced a figure

	RPS        float64            `json:"rps"`
	P99Ms      float64            `json:"p99_ms"`
	Ratio      float64            `json:"ratio_to_bare"`
	RoundRatio []float64          `json:"round_ratios"`
	RoundRPS   []float64          `json:"round_rps"`
	RT         float64            `json:"round_trips_per_req"`
	Cmds       float64            `json:"commands_per_req"`
	CmdsByName map[string]float64 `json:"commands_by_name_per_req"`
	Allocs     float64            `json:"allocs_per_req"`
	Bytes      float64            `json:"alloc_bytes_per_req"`
	AppCPU     float64            `json:"app_cpu_us_per_req"`
	RedisCPU   float64            `json:"redis_cpu_us_per_req"`

	Requests     int64 `json:"requests"` // whole server lives, all rounds
	Status2xx    int64 `json:"status_2xx"`
	Status4xx    int64 `json:"status_4xx"`
	Status5xx    int64 `json:"status_5xx"`
	Gone5xx      int64 `json:"gone_5xx"`
	Unanswered   int64 `json:"unanswered"`
	Panics       int64 `json:"panics"`
	FailOpen     int64 `json:"fail_open"`
	Wrong        int64 `json:"wrong"`
	Origin       int64 `json:"origin"`
	Lost         int64 `json:"lost_increments"`
	OverAdmitted int64 `json:"over_admitted"`
	SocketErrors int64 `json:"socket_errors"`
	NoExpiry     int   `json:"keys_without_expiry"`
	Errors       int   `json:"errors"`
}

func buildReport(m machine, c config, results []cellResult) *report {
	rep := &report{
		Machine: m,
		Params: runParams{Rounds: c.rounds, Duration: c.wrk.Duration.String(), Warmup: c.warmup.String(),
			Threads: c.wrk.Threads, Conns: c.wrk.Conns},
		Results: results,
	}
	type key struct{ s, impl string }
	byKey := map[key][]cellResult{}
	var order []key
	for _, r := range results {
		k := key{r.Scenario, r.Impl}
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	// Report order: bare, then scenario.All's order, ours first in each.
	rank := func(k key) int {
		for i, s := range scenario.All {
			if s.Name == k.s {
				return i*100 + slices.Index(s.Impls, k.impl)
			}
		}
		return math.MaxInt
	}
	sort.SliceStable(order, func(i, j int) bool { return rank(order[i]) < rank(order[j]) })
	for _, k := range order {
		s, _ := scenario.Lookup(k.s)
		rep.Rows = append(rep.Rows, aggregate(s, k.impl, byKey[k]))
	}
	return rep
}

func aggregate(s scenario.Scenario, impl string, cells []cellResult) row {
	rw := row{Scenario: s.Name, Impl: impl, CmdsByName: map[string]float64{}}
	var rps, p99, ratio, rt, cmds, allocs, bytes, app, red []float64
	for _, c := range cells {
		rw.Requests += c.Final.Requests
		rw.Status2xx += c.Final.Status2xx
		rw.Status4xx += c.Final.Status4xx
		rw.Status5xx += c.Final.Status5xx
		rw.Gone5xx += c.Final.Gone5xx
		rw.Unanswered += c.Final.Unanswered
		rw.Panics += c.Final.Panics
		rw.FailOpen += c.Final.FailOpen
		rw.Wrong += c.Final.Wrong
		rw.Origin += c.Final.Origin
		rw.SocketErrors += c.Wrk.SocketErrors()
		rw.NoExpiry += c.Keys.NoExpiry
		if c.Err != "" {
			rw.Errors++
			continue
		}
		if s.Kind == scenario.SessionWrite {
			rw.Lost += c.Lost()
		}
		if s.Kind == scenario.RateLimitDeny {
			if over := c.Final.Status2xx - c.Final.FailOpen - int64(s.Keys); over > 0 {
				rw.OverAdmitted += over
			}
		}
		rw.Rounds++
		rps = append(rps, c.RPS)
		p99 = append(p99, c.P99Ms)
		rw.RoundRPS = append(rw.RoundRPS, c.RPS)
		if c.Ratio > 0 {
			ratio = append(ratio, c.Ratio)
			rw.RoundRatio = append(rw.RoundRatio, c.Ratio)
		}
		rt = append(rt, c.RTPerReq)
		cmds = append(cmds, c.CmdsPerReq)
		allocs = append(allocs, c.AllocsPerReq)
		bytes = append(bytes, c.BytesPerReq)
		app = append(app, c.AppCPUus)
		red = append(red, c.RedisCPUus)
		for k, v := range c.Cmds {
			rw.CmdsByName[k] += v / float64(len(cells))
		}
	}
	rw.RPS, rw.P99Ms, rw.Ratio = median(rps), median(p99), median(ratio)
	rw.RT, rw.Cmds, rw.Allocs, rw.Bytes = median(rt), median(cmds), median(allocs), median(bytes)
	rw.AppCPU, rw.RedisCPU = median(app), median(red)
	return rw
}

// median returns the median of xs, or 0 when there are none (every figure
// it takes is positive when measured).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// correctness says in words what went wrong in a row, or "ok".
func (rw row) correctness(s scenario.Scenario) string {
	var notes []string
	add := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	if rw.Errors > 0 {
		add("%d failed cells", rw.Errors)
	}
	if rw.Panics > 0 {
		add("%s panics", thousands(rw.Panics))
	}
	if n := rw.Status5xx - rw.Panics; n > 0 {
		add("%s 5xx", thousands(n))
	}
	if rw.FailOpen > 0 {
		add("%s let through by the fail-open policy (Redis slower than the timeout)", thousands(rw.FailOpen))
	}
	switch s.Kind {
	case scenario.SessionWrite:
		if rw.Lost != 0 {
			add("lost %s of %s increments (%.1f%%)", thousands(rw.Lost), thousands(rw.Status2xx), 100*float64(rw.Lost)/float64(max(rw.Status2xx, 1)))
		} else {
			add("no increment lost of %s", thousands(rw.Status2xx))
		}
	case scenario.SessionRead:
		if rw.Wrong > 0 {
			add("%s reads missed the stored value", thousands(rw.Wrong))
		}
	case scenario.RateLimitDeny:
		if rw.OverAdmitted > 0 {
			add("admitted %s over the limit", thousands(rw.OverAdmitted))
		}
	case scenario.RateLimitAllow:
		if rw.Status4xx > 0 {
			add("%s allowed requests denied", thousands(rw.Status4xx))
		}
	case scenario.CacheHit, scenario.AsideHit:
		if rw.Origin > int64(rw.Rounds+rw.Errors) {
			add("origin called %s times in %d runs", thousands(rw.Origin), rw.Rounds+rw.Errors)
		}
	}
	if rw.SocketErrors > 0 {
		add("%s socket errors/timeouts", thousands(rw.SocketErrors))
	}
	if rw.NoExpiry > 0 {
		add("%d keys without expiry", rw.NoExpiry)
	}
	if rw.Unanswered > 0 {
		add("(%s unanswered: the client had gone)", thousands(rw.Unanswered))
	}
	if rw.Gone5xx > 0 {
		add("(%s 5xx to clients already gone)", thousands(rw.Gone5xx))
	}
	if len(notes) == 0 {
		return "ok"
	}
	return strings.Join(notes, "; ")
}

func (rep *report) rowsOf(name string) []row {
	var out []row
	for _, rw := range rep.Rows {
		if rw.Scenario == name {
			out = append(out, rw)
		}
	}
	return out
}

// versus returns ours and the best peer (highest median ratio) of a scenario.
func (rep *report) versus(name string) (ours, best row, ok bool) {
	var haveOurs, havePeer bool
	for _, rw := range rep.rowsOf(name) {
		if rw.Ratio <= 0 {
			continue
		}
		if rw.Impl == scenario.ImplOurs {
			ours, haveOurs = rw, true
		} else if rw.Impl == scenario.ImplOursDirect {
			continue // ours too, not a peer
		} else if !havePeer || rw.Ratio > best.Ratio {
			best, havePeer = rw, true
		}
	}
	return ours, best, haveOurs && havePeer
}

func (rep *report) markdown() string {
	var b strings.Builder
	m := rep.Machine
	p := rep.Params
	fmt.Fprintf(&b, "## Load test %s\n\n", m.Date)
	fmt.Fprintf(&b, "- commit measured: `%s`\n", m.Commit)
	fmt.Fprintf(&b, "- machine: %d cores (nproc), %s, %s RAM; Redis %s at %s; %s; %s\n", m.NProc, m.CPU, m.Mem, m.Redis, m.RedisAddr, m.Go, m.Wrk)
	fmt.Fprintf(&b, "- load: wrk -t%d -c%d, %s measured after %s of warm-up per cell; %d interleaved rounds, each scenario's bare baseline measured in the same round right before its implementations\n\n",
		p.Threads, p.Conns, p.Duration, p.Warmup, p.Rounds)

	b.WriteString("### Ours against the best peer\n\n")
	b.WriteString("Ratios are req/s ÷ bare net/http req/s of the same round (median of the rounds); ours ÷ best peer divides the medians.\n\n")
	b.WriteString("| scenario | best peer | ours | ours ÷ best peer | target | met | p99 ours / best peer (ms) |\n|---|---|---|---|---|---|---|\n")
	for _, s := range scenario.All {
		ours, best, ok := rep.versus(s.Name)
		if !ok {
			continue
		}
		tgt, met := "—", "—"
		if t, ok := targets[s.Name]; ok {
			tgt = fmt.Sprintf("≥ %.2f×", t)
			met = "no"
			if ours.Ratio/best.Ratio >= t {
				met = "yes"
			}
		}
		fmt.Fprintf(&b, "| %s | %s %.2f | %.2f | %.2f× | %s | %s | %.2f / %.2f |\n",
			s.Name, best.Impl, best.Ratio, ours.Ratio, ours.Ratio/best.Ratio, tgt, met, ours.P99Ms, best.P99Ms)
	}

	b.WriteString("\n### Every implementation\n\n")
	b.WriteString("Medians of the rounds. rt = Redis round trips per request (go-redis hook in the server); cmds = commands Redis executed per request (INFO commandstats deltas, commands inside scripts included); allocs, KB = heap allocations per request in the server process; app µs / Redis µs = CPU time per request of the server process / of redis-server. Correctness adds up every round, warm-up included; a 5xx answered to a request whose client had already gone (wrk closes its connections at the end of a run) is listed apart, in brackets.\n\n")
	b.WriteString("| scenario | implementation | req/s | ×bare | p99 ms | rt | cmds | allocs | KB | app µs | Redis µs | correctness |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, rw := range rep.Rows {
		s, _ := scenario.Lookup(rw.Scenario)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.2f | %.2f | %.2f | %.0f | %.1f | %.1f | %.1f | %s |\n",
			rw.Scenario, rw.Impl, thousands(int64(math.Round(rw.RPS))), ratioCell(rw), rw.P99Ms, rw.RT, rw.Cmds,
			rw.Allocs, rw.Bytes/1024, rw.AppCPU, rw.RedisCPU, rw.correctness(s))
	}

	b.WriteString("\n### Redis commands per request, by command\n\n| scenario | implementation | commands |\n|---|---|---|\n")
	for _, rw := range rep.Rows {
		if rw.Impl == scenario.ImplBare {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", rw.Scenario, rw.Impl, cmdsString(rw.CmdsByName))
	}

	b.WriteString("\n### Each round\n\n| scenario | implementation | req/s per round | ×bare per round |\n|---|---|---|---|\n")
	for _, rw := range rep.Rows {
		var rps, rat []string
		for _, v := range rw.RoundRPS {
			rps = append(rps, thousands(int64(math.Round(v))))
		}
		for _, v := range rw.RoundRatio {
			rat = append(rat, strconv.FormatFloat(v, 'f', 2, 64))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", rw.Scenario, rw.Impl, strings.Join(rps, ", "), strings.Join(rat, ", "))
	}

	b.WriteString("\n### Implementations\n\n")
	for _, impl := range []string{scenario.ImplBare, scenario.ImplOurs, scenario.ImplOursDirect, scenario.ImplRedisRate, scenario.ImplUlule,
		scenario.ImplThrottled, scenario.ImplSCS, scenario.ImplGorilla, scenario.ImplGoCache, scenario.ImplGoCacheOnce} {
		fmt.Fprintf(&b, "- %s: %s\n", impl, scenario.Labels[impl])
	}
	return b.String()
}

func ratioCell(rw row) string {
	if rw.Impl == scenario.ImplBare {
		return "1"
	}
	if rw.Ratio <= 0 {
		return "—"
	}
	return strconv.FormatFloat(rw.Ratio, 'f', 2, 64)
}

// cmdsString lists commands per request, most frequent first.
func cmdsString(m map[string]float64) string {
	type kv struct {
		k string
		v float64
	}
	var s []kv
	for k, v := range m {
		if v >= 0.005 {
			s = append(s, kv{k, v})
		}
	}
	sort.Slice(s, func(i, j int) bool {
		if s[i].v != s[j].v {
			return s[i].v > s[j].v
		}
		return s[i].k < s[j].k
	})
	var parts []string
	for _, e := range s {
		parts = append(parts, fmt.Sprintf("%s %.2f", e.k, e.v))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// thousands formats n with thin separators: 96,210.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func (rep *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
