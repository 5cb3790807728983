// Command loadtest drives cmd/rwserver with wrk, implementation after
// implementation and scenario after scenario, in interleaved rounds, and
// reports throughput, p99 latency, each figure as a ratio to a bare net/http
// handler measured in the same round, Redis round trips and commands per
// request, allocations and CPU per request, and the correctness seen in the
// same run (5xx, panics, lost increments, over-admissions, wrong reads).
// It prints a Markdown report, writes it with the raw results as JSON into
// -out, and draws the chart of ratios to bare into -chart.
//
// Usage (from the benchmarks module; `make loadtest` does this):
//
//	REDIS_URL=redis://127.0.0.1:6379/0 go run ./cmd/loadtest [flags]
//
// With -replot it measures nothing: it prints the report of a saved
// loadtest.json and draws its chart again (-chart).
//
// With -profile it measures nothing but profiles the listed cells instead:
// CPU and allocation profiles of the server under the same load, saved in
// -out/profiles with a `go tool pprof -top` summary of each.
//
// Every cell uses its own key prefix, rwbench:<run>:r<round>:<scenario>:<impl>:, and
// its keys are deleted after it (SCAN + UNLINK; never FLUSH).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/benchmarks/scenario"
)

type config struct {
	redisURL  string
	rounds    int
	warmup    time.Duration
	wrk       wrkParams
	scenarios []scenario.Scenario
	impls     []string // filter; empty means all
	out       string
	chart     string
	serverBin string
	profile   []string // scenario/impl cells to profile; empty means measure
	runID     string
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		c         config
		scenarios = flag.String("scenarios", "", "comma-separated scenarios to run (default: all)")
		impls     = flag.String("impls", "", "comma-separated implementations to run besides the bare baseline (default: all)")
		profile   = flag.String("profile", "", "comma-separated scenario/impl cells to profile instead of measuring, e.g. session-read/redisware")
		replot    = flag.String("replot", "", "measure nothing: print the report and draw the chart of a saved loadtest.json")
	)
	flag.StringVar(&c.redisURL, "redis", os.Getenv("REDIS_URL"), "Redis URL (default $REDIS_URL)")
	flag.IntVar(&c.rounds, "rounds", 3, "interleaved rounds")
	flag.DurationVar(&c.wrk.Duration, "duration", 6*time.Second, "measured wrk run per cell (whole seconds)")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured wrk run before each measurement")
	flag.IntVar(&c.wrk.Threads, "threads", 2, "wrk threads (-t)")
	flag.IntVar(&c.wrk.Conns, "conns", 32, "wrk connections (-c)")
	flag.StringVar(&c.out, "out", "loadtest-out", "directory for the report, raw results, server logs and profiles")
	flag.StringVar(&c.chart, "chart", "", "chart file, .svg or .png (default: <out>/chart.svg)")
	flag.StringVar(&c.serverBin, "server", "", "prebuilt rwserver binary (default: go build ./cmd/rwserver)")
	flag.Parse()

	if *replot != "" {
		return replotFrom(*replot, c.chart)
	}
	if c.redisURL == "" {
		return errors.New("no Redis: set REDIS_URL (e.g. redis://127.0.0.1:6379/0) or -redis")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not installed (Debian: apt-get install -y wrk)")
	}
	if c.rounds < 1 || c.wrk.Threads < 1 || c.wrk.Conns < c.wrk.Threads || c.wrk.Duration < time.Second {
		return errors.New("need -rounds ≥ 1, -threads ≥ 1, -conns ≥ -threads, -duration ≥ 1s")
	}
	var err error
	if c.scenarios, err = pickScenarios(*scenarios); err != nil {
		return err
	}
	c.impls = splitList(*impls)
	c.profile = splitList(*profile)
	if c.chart == "" {
		c.chart = filepath.Join(c.out, "chart.svg")
	}
	c.runID = randomHex(4)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := os.MkdirAll(filepath.Join(c.out, "logs"), 0o755); err != nil {
		return err
	}
	if c.serverBin == "" {
		c.serverBin = filepath.Join(c.out, "rwserver")
		build := exec.CommandContext(ctx, "go", "build", "-o", c.serverBin, "./cmd/rwserver")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building the server (run from the benchmarks module): %w", err)
		}
	}
	opt, err := redis.ParseURL(c.redisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s: %w", opt.Addr, err)
	}

	if len(c.profile) > 0 {
		return runProfiles(ctx, c, rdb)
	}
	m, err := describeMachine(ctx, rdb, c)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "loadtest: run %s: %d rounds × %d cells of %s (+%s warm-up)\n",
		c.runID, c.rounds, countCells(c), c.wrk.Duration, c.warmup)
	results, err := measure(ctx, c, rdb)
	if err != nil && len(results) == 0 {
		return err
	}
	rep := buildReport(m, c, results)
	md := rep.markdown()
	fmt.Print(md)
	if werr := writeOutputs(c, rep, md); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

func pickScenarios(list string) ([]scenario.Scenario, error) {
	names := splitList(list)
	if len(names) == 0 {
		return scenario.All, nil
	}
	out := []scenario.Scenario{}
	for _, n := range names {
		s, ok := scenario.Lookup(n)
		if !ok {
			return nil, fmt.Errorf("unknown scenario %q", n)
		}
		out = append(out, s)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// implsOf returns the implementations of s the run measures.
func implsOf(c config, s scenario.Scenario) []string {
	if len(c.impls) == 0 {
		return s.Impls
	}
	var out []string
	for _, i := range s.Impls {
		if slices.Contains(c.impls, i) {
			out = append(out, i)
		}
	}
	return out
}

func countCells(c config) int {
	n := 0
	for _, s := range c.scenarios {
		if s.Kind != scenario.Bare {
			n += 1 + len(implsOf(c, s)) // with its bare baseline
		}
	}
	return n
}

// measure runs the rounds. In each round every scenario group runs its bare
// baseline and then its implementations, in an order rotated by the round,
// so no implementation always runs first or last.
func measure(ctx context.Context, c config, rdb *redis.Client) ([]cellResult, error) {
	bare, _ := scenario.Lookup("bare")
	var results []cellResult
	var errs []error
	total, n := countCells(c)*c.rounds, 0
	for round := 1; round <= c.rounds; round++ {
		for _, s := range c.scenarios {
			if s.Kind == scenario.Bare {
				continue
			}
			impls := implsOf(c, s)
			if len(impls) == 0 {
				continue
			}
			k := (round - 1) % len(impls)
			order := append(append([]string(nil), impls[k:]...), impls[:k]...)
			cells := []cellSpec{{bare, scenario.ImplBare}}
			for _, impl := range order {
				cells = append(cells, cellSpec{s, impl})
			}
			var bareRPS float64
			for _, cl := range cells {
				n++
				if err := ctx.Err(); err != nil {
					return results, err
				}
				fmt.Fprintf(os.Stderr, "loadtest: [%d/%d] round %d %s / %s ... ", n, total, round, s.Name, cl.impl)
				r, err := runCell(ctx, c, rdb, cl.s, cl.impl, s.Name, round, false)
				if err != nil {
					fmt.Fprintf(os.Stderr, "error: %v\n", err)
					errs = append(errs, fmt.Errorf("round %d %s/%s: %w", round, s.Name, cl.impl, err))
					r.Err = err.Error()
				} else {
					fmt.Fprintf(os.Stderr, "%.0f req/s, p99 %.2f ms\n", r.RPS, r.P99Ms)
				}
				if cl.impl == scenario.ImplBare {
					bareRPS = r.RPS
				} else if bareRPS > 0 {
					r.Ratio = r.RPS / bareRPS
				}
				results = append(results, r)
			}
		}
	}
	return results, errors.Join(errs...)
}

// replotFrom prints the report of a saved run and draws its chart again.
func replotFrom(path, chart string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if chart == "" {
		chart = filepath.Join(filepath.Dir(path), "chart.svg")
	}
	fmt.Print(rep.markdown())
	return drawChart(&rep, chart)
}

// cellSpec is one implementation of one scenario.
type cellSpec struct {
	s    scenario.Scenario
	impl string
}

func writeOutputs(c config, rep *report, md string) error {
	if err := os.WriteFile(filepath.Join(c.out, "loadtest.md"), []byte(md), 0o644); err != nil {
		return err
	}
	if err := rep.writeJSON(filepath.Join(c.out, "loadtest.json")); err != nil {
		return err
	}
	if err := drawChart(rep, c.chart); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	fmt.Fprintf(os.Stderr, "loadtest: wrote %s, %s and %s\n",
		filepath.Join(c.out, "loadtest.md"), filepath.Join(c.out, "loadtest.json"), c.chart)
	return nil
}
