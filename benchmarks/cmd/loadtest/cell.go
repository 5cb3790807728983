package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/benchmarks/scenario"
)

// cellResult is one measurement of one implementation of one scenario.
type cellResult struct {
	Round    int    `json:"round"`
	Group    string `json:"group"` // the scenario whose bare baseline this is compared with
	Scenario string `json:"scenario"`
	Impl     string `json:"impl"`

	RPS   float64   `json:"rps"`
	P99Ms float64   `json:"p99_ms"`
	Ratio float64   `json:"ratio_to_bare"` // RPS ÷ the bare RPS of the same round and group
	Wrk   wrkResult `json:"wrk"`

	// Per request of the measured window, as the server counted them.
	Requests     int64              `json:"requests"`
	RTPerReq     float64            `json:"round_trips_per_req"`
	CmdsPerReq   float64            `json:"commands_per_req"`
	Cmds         map[string]float64 `json:"commands_by_name_per_req"`
	AllocsPerReq float64            `json:"allocs_per_req"`
	BytesPerReq  float64            `json:"alloc_bytes_per_req"`
	AppCPUus     float64            `json:"app_cpu_us_per_req"`
	RedisCPUus   float64            `json:"redis_cpu_us_per_req"`

	// Over the server's whole life (warm-up included).
	Final scenario.Stats `json:"final"`
	// Session writes: the sum of the counters after the run (seeded at 0),
	// to compare with Final.Status2xx.
	Stored int64              `json:"stored,omitempty"`
	Keys   scenario.KeyReport `json:"keys"`
	Err    string             `json:"error,omitempty"`
}

// Lost is the number of increments answered 2xx but missing from the
// stored counters (session-write only).
func (r cellResult) Lost() int64 { return r.Final.Status2xx - r.Stored }

// slug makes an implementation name usable in a key prefix and a file name.
func slug(s string) string { return strings.NewReplacer("/", "-", " ", "-").Replace(s) }

// runCell measures impl of s once, as part of the group whose bare
// baseline it is compared with. With prof it also takes a CPU and an
// allocation profile of the server during the measured run.
func runCell(ctx context.Context, c config, rdb *redis.Client, s scenario.Scenario, impl, group string, round int, prof bool) (res cellResult, err error) {
	res = cellResult{Round: round, Group: group, Scenario: s.Name, Impl: impl}
	name := fmt.Sprintf("r%d_%s_%s", round, group, slug(impl)) // bare runs once per group
	prefix := fmt.Sprintf("rwbench:%s:r%d:%s:%s:", c.runID, round, group, slug(impl))
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		keys, cerr := scenario.Cleanup(cctx, rdb, prefix)
		res.Keys = keys
		err = errors.Join(err, cerr)
	}()
	sv, err := startServer(ctx, c.serverBin, c.redisURL, s, impl, prefix, filepath.Join(c.out, "logs", name+".log"), prof)
	if err != nil {
		return res, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = sv.stop()
		}
	}()

	var cookies []string
	if s.Kind == scenario.SessionRead || s.Kind == scenario.SessionWrite {
		n := int64(0)
		if s.Kind == scenario.SessionRead {
			n = scenario.ReadValue
		}
		for range s.Keys {
			ck, err := sv.seed(ctx, n)
			if err != nil {
				return res, err
			}
			cookies = append(cookies, ck)
		}
	}
	script := wrkScript(s, cookies)
	if c.warmup >= time.Second {
		if _, _, err := runWrk(ctx, wrkParams{Threads: c.wrk.Threads, Conns: c.wrk.Conns, Duration: c.warmup}, sv.url+"/", script); err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
	}

	before, err := sv.stats(ctx)
	if err != nil {
		return res, err
	}
	rBefore, err := readRedis(ctx, rdb)
	if err != nil {
		return res, err
	}
	var profErr error
	var wg sync.WaitGroup
	if prof {
		wg.Go(func() { profErr = takeProfiles(ctx, c, sv, name) })
	}
	w, out, err := runWrk(ctx, c.wrk, sv.url+"/", script)
	wg.Wait()
	if err != nil {
		return res, err
	}
	if err := os.WriteFile(filepath.Join(c.out, "logs", name+".wrk.txt"), []byte(out), 0o644); err != nil {
		return res, err
	}
	after, err := sv.stats(ctx)
	if err != nil {
		return res, err
	}
	rAfter, err := readRedis(ctx, rdb)
	if err != nil {
		return res, err
	}

	res.Wrk = w
	res.RPS = w.RPS()
	res.P99Ms = w.P99Us / 1000
	res.Requests = after.Requests - before.Requests
	if n := float64(res.Requests); n > 0 {
		res.RTPerReq = float64(after.RoundTrips-before.RoundTrips) / n
		res.AllocsPerReq = float64(after.Mallocs-before.Mallocs) / n
		res.BytesPerReq = float64(after.AllocBytes-before.AllocBytes) / n
		res.AppCPUus = float64(after.CPUNanos-before.CPUNanos) / 1e3 / n
		res.RedisCPUus = (rAfter.CPU - rBefore.CPU) * 1e6 / n
		res.Cmds = map[string]float64{}
		var sum int64
		for k, v := range callsDelta(rBefore.Calls, rAfter.Calls) {
			res.Cmds[k] = float64(v) / n
			sum += v
		}
		res.CmdsPerReq = float64(sum) / n
	}

	if s.Kind == scenario.SessionWrite {
		// Requests wrk hung up on at its end still finish their saves, and
		// one read before the hang-up may reach the handler later still:
		// read the counters back until no request ended or began during
		// the reading, so the sum and the 2xx count are of one moment.
		for attempt := 0; ; attempt++ {
			if err := sv.quiesce(ctx); err != nil {
				return res, err
			}
			start, err := sv.stats(ctx)
			if err != nil {
				return res, err
			}
			var stored int64
			for _, ck := range cookies {
				v, err := sv.value(ctx, ck)
				if err != nil {
					return res, fmt.Errorf("reading a counter back: %w", err)
				}
				stored += v
			}
			if res.Final, err = sv.stats(ctx); err != nil {
				return res, err
			}
			if res.Final.Requests == start.Requests && res.Final.InFlight == 0 {
				res.Stored = stored
				break
			}
			fmt.Fprintf(os.Stderr, "loadtest: %s: %d requests ended during the read-back; reading again\n", name, res.Final.Requests-start.Requests)
			if attempt == 10 {
				return res, errors.New("requests kept arriving after wrk ended")
			}
		}
	} else if res.Final, err = sv.stats(ctx); err != nil {
		return res, err
	}
	stopped = true
	if err := sv.stop(); err != nil {
		return res, fmt.Errorf("rwserver exit: %w", err)
	}
	return res, profErr
}

// takeProfiles saves a CPU profile and an allocation profile (the
// allocations of the window only) of the server, over the measured run less
// a second at each end, and a `go tool pprof -top` of each.
func takeProfiles(ctx context.Context, c config, sv *server, name string) error {
	dir := filepath.Join(c.out, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	secs := int(c.wrk.Duration/time.Second) - 2
	if secs < 1 {
		secs = 1
	}
	select {
	case <-time.After(time.Second): // let wrk connect
	case <-ctx.Done():
		return ctx.Err()
	}
	q := "?seconds=" + strconv.Itoa(secs)
	cpu := filepath.Join(dir, name+".cpu.pprof")
	allocs := filepath.Join(dir, name+".allocs.pprof")
	var cpuErr, allocErr error
	var wg sync.WaitGroup
	wg.Go(func() { cpuErr = sv.fetch(ctx, "/debug/pprof/profile"+q, cpu) })
	wg.Go(func() { allocErr = sv.fetch(ctx, "/debug/pprof/allocs"+q, allocs) })
	wg.Wait()
	if err := errors.Join(cpuErr, allocErr); err != nil {
		return err
	}
	tops := []struct {
		out, profile string
		flags        []string
	}{
		{cpu + ".top.txt", cpu, []string{"-top", "-nodecount=40"}},
		{cpu + ".cum.txt", cpu, []string{"-top", "-cum", "-nodecount=60"}},
		{allocs + ".objects.txt", allocs, []string{"-top", "-sample_index=alloc_objects", "-nodecount=40"}},
		{allocs + ".cum.txt", allocs, []string{"-top", "-cum", "-sample_index=alloc_objects", "-nodecount=60"}},
	}
	for _, t := range tops {
		args := append(append([]string{"tool", "pprof"}, t.flags...), c.serverBin, t.profile)
		out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		if err := os.WriteFile(t.out, out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// runProfiles profiles the cells of -profile, one run each.
func runProfiles(ctx context.Context, c config, rdb *redis.Client) error {
	var errs []error
	for _, cell := range c.profile {
		sn, impl, ok := strings.Cut(cell, "/")
		s, found := scenario.Lookup(sn)
		if !ok || !found {
			return fmt.Errorf("-profile: %q is not scenario/impl", cell)
		}
		fmt.Fprintf(os.Stderr, "loadtest: profiling %s / %s ... ", s.Name, impl)
		r, err := runCell(ctx, c, rdb, s, impl, s.Name, 0, true)
		if err != nil {
			fmt.Fprintf(os.Stderr, "error: %v\n", err)
			errs = append(errs, fmt.Errorf("%s: %w", cell, err))
			continue
		}
		fmt.Fprintf(os.Stderr, "%.0f req/s (profiled), %.2f rt, %.2f cmds, %.1f allocs, %.1f app µs, %.1f redis µs per request\n",
			r.RPS, r.RTPerReq, r.CmdsPerReq, r.AllocsPerReq, r.AppCPUus, r.RedisCPUus)
		fmt.Printf("%s/%s: %s\n", s.Name, impl, cmdsString(r.Cmds))
	}
	fmt.Fprintf(os.Stderr, "loadtest: profiles in %s\n", filepath.Join(c.out, "profiles"))
	return errors.Join(errs...)
}
