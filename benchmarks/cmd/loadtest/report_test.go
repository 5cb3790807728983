package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redisware/redisware/benchmarks/scenario"
)

func TestParseCommandStats(t *testing.T) {
	info := "# Commandstats\r\n" +
		"cmdstat_get:calls=12,usec=34,usec_per_call=2.83,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_client|setinfo:calls=4,usec=3,usec_per_call=0.75,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_info:calls=99,usec=1,usec_per_call=0.01,rejected_calls=0,failed_calls=0\r\n"
	got, err := parseCommandStats(info)
	if err != nil {
		t.Fatal(err)
	}
	if got["get"] != 12 || got["client|setinfo"] != 4 || got["info"] != 99 || len(got) != 3 {
		t.Errorf("parsed %v", got)
	}
	if _, err := parseCommandStats("cmdstat_get:calls=x,usec=1\r\n"); err == nil {
		t.Error("a bad count parsed")
	}
	d := callsDelta(map[string]int64{"get": 10, "info": 1, "set": 5}, map[string]int64{"get": 15, "info": 9, "set": 5, "evalsha": 3})
	if len(d) != 2 || d["get"] != 5 || d["evalsha"] != 3 {
		t.Errorf("delta %v, want get 5, evalsha 3 (no info, no unchanged set)", d)
	}
}

func TestParseCPU(t *testing.T) {
	got := parseCPU("# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.250000\r\nused_cpu_sys_children:9.0\r\n")
	if got != 3.75 {
		t.Errorf("cpu %v, want 3.75", got)
	}
}

func TestMedianAndThousands(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 96210: "96,210", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// fakeRun makes the results of a small run: two rounds of session-write
// and ratelimit-deny, with a peer that loses increments and over-admits.
func fakeRun() []cellResult {
	var rs []cellResult
	for round := 1; round <= 2; round++ {
		f := float64(round)
		rs = append(rs,
			cellResult{Round: round, Group: "session-write", Scenario: "bare", Impl: scenario.ImplBare, RPS: 30000 * f},
			cellResult{Round: round, Group: "session-write", Scenario: "session-write", Impl: scenario.ImplOurs, RPS: 9000 * f, Ratio: 0.30, P99Ms: 4,
				RTPerReq: 2, CmdsPerReq: 3, Cmds: map[string]float64{"evalsha": 2, "hincrby": 1},
				Final: scenario.Stats{Requests: 1000, Status2xx: 1000}, Stored: 1000},
			cellResult{Round: round, Group: "session-write", Scenario: "session-write", Impl: scenario.ImplSCS, RPS: 6000 * f, Ratio: 0.20, P99Ms: 6,
				Final: scenario.Stats{Requests: 1000, Status2xx: 990, Status5xx: 10}, Stored: 90},
			cellResult{Round: round, Group: "ratelimit-deny", Scenario: "bare", Impl: scenario.ImplBare, RPS: 30000 * f},
			cellResult{Round: round, Group: "ratelimit-deny", Scenario: "ratelimit-deny", Impl: scenario.ImplOurs, RPS: 24000 * f, Ratio: 0.8,
				Final: scenario.Stats{Requests: 5000, Status2xx: 3, Status4xx: 4997, FailOpen: 2, Gone5xx: 1}},
			cellResult{Round: round, Group: "ratelimit-deny", Scenario: "ratelimit-deny", Impl: scenario.ImplUlule, RPS: 12000 * f, Ratio: 0.4,
				Final: scenario.Stats{Requests: 5000, Status2xx: 3, Status4xx: 4995, Status5xx: 2, Panics: 2}},
		)
	}
	return rs
}

func TestReport(t *testing.T) {
	c := config{rounds: 2}
	rep := buildReport(machine{NProc: 2, CPU: "test CPU"}, c, fakeRun())
	if len(rep.Rows) != 5 || rep.Rows[0].Impl != scenario.ImplBare {
		t.Fatalf("rows %+v", rep.Rows)
	}
	ours, best, ok := rep.versus("session-write")
	if !ok || ours.Impl != scenario.ImplOurs || best.Impl != scenario.ImplSCS || ours.Ratio/best.Ratio < 1.49 || ours.Ratio/best.Ratio > 1.51 {
		t.Fatalf("versus: ours %+v best %+v", ours, best)
	}
	md := rep.markdown()
	for _, want := range []string{
		"| session-write | scs 0.20 | 0.30 | 1.50× | ≥ 1.30× | yes |",
		"| ratelimit-deny | ulule 0.40 | 0.80 | 2.00× | ≥ 2.20× | no |",
		"lost 1,800 of 1,980 increments (90.9%)",
		"no increment lost of 2,000",
		"admitted 4 over the limit",
		"4 panics",
		"20 5xx",
		"4 let through by the fail-open policy",
		"(2 5xx to clients already gone)",
		"evalsha 2.00, hincrby 1.00",
		"| bare | net/http | 30,000, 30,000, 60,000, 60,000 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if err := rep.writeJSON(filepath.Join(t.TempDir(), "r.json")); err != nil {
		t.Errorf("JSON: %v", err)
	}
	svg := filepath.Join(t.TempDir(), "chart.svg")
	if err := drawChart(rep, svg); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(svg)
	if err != nil || !strings.Contains(string(b), "<svg") {
		t.Fatalf("chart: %v, %d bytes", err, len(b))
	}
}
