// Command rwserver serves the load test's GET / behind one implementation of
// one scenario (see package scenario), and a few debug endpoints the runner
// reads:
//
//	GET  /__bench/stats   requests by status class, panics, wrong answers,
//	                      origin calls, Redis round trips, allocations and
//	                      CPU time of the process so far (JSON)
//	POST /__bench/seed    session scenarios: a new session holding ?n=
//	GET  /__bench/value   session scenarios: the counter of the cookie's session
//
// With -pprof it also serves net/http/pprof on a separate address, so
// profiling does not share the measured listener.
//
// It prints "listening http://<addr>" on stdout once it accepts requests,
// and shuts down on SIGINT or SIGTERM. It deletes no keys: the runner does,
// by the prefix it passed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/benchmarks/scenario"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rwserver:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		name       = flag.String("scenario", "bare", "scenario to serve")
		impl       = flag.String("impl", scenario.ImplBare, "implementation to serve")
		addr       = flag.String("addr", "127.0.0.1:0", "listen address")
		pprofAddr  = flag.String("pprof", "", "serve net/http/pprof on this address (empty: off)")
		redisURL   = flag.String("redis", os.Getenv("REDIS_URL"), "Redis URL (default $REDIS_URL)")
		prefix     = flag.String("prefix", "", "key prefix of this run (required)")
		ctxTimeout = flag.Bool("context-timeout", true, "set go-redis ContextTimeoutEnabled (what the redisware docs recommend)")
	)
	flag.Parse()
	s, ok := scenario.Lookup(*name)
	if !ok {
		return fmt.Errorf("unknown scenario %q", *name)
	}
	if *prefix == "" {
		return errors.New("-prefix is required")
	}
	if *redisURL == "" {
		return errors.New("no Redis: set REDIS_URL or -redis")
	}
	opt, err := redis.ParseURL(*redisURL)
	if err != nil {
		return fmt.Errorf("-redis: %w", err)
	}
	opt.ContextTimeoutEnabled = *ctxTimeout
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	rt := scenario.CountRoundTrips(rdb)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = rdb.Ping(pctx).Err()
	cancel()
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}

	built, err := scenario.Build(ctx, scenario.Env{RDB: rdb, Prefix: *prefix}, s, *impl)
	if err != nil {
		return err
	}
	defer built.Close()

	st := &stats{rt: rt, built: built}
	mux := http.NewServeMux()
	mux.Handle("/{$}", st.count(built.Handler))
	mux.HandleFunc("GET /__bench/stats", st.serve)
	if built.Seed != nil {
		mux.Handle("POST /__bench/seed", built.Seed)
		mux.Handle("GET /__bench/value", built.Value)
	}

	if *pprofAddr != "" {
		pm := http.NewServeMux()
		pm.HandleFunc("/debug/pprof/", pprof.Index)
		pm.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pm.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pm.HandleFunc("/debug/pprof/trace", pprof.Trace)
		pl, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			return fmt.Errorf("-pprof: %w", err)
		}
		go func() { _ = http.Serve(pl, pm) }()
		fmt.Printf("pprof http://%s\n", pl.Addr())
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// The panics ulule's default error handler raises are counted by
		// stats; their stack traces go to stderr once each.
		ErrorLog: log.New(os.Stderr, "", 0),
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	fmt.Printf("listening http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// stats counts what the measured handler answered.
type stats struct {
	rt    *scenario.RoundTrips
	built *scenario.Built

	requests, panics, gone5xx atomic.Int64
	unanswered                atomic.Int64
	inFlight                  atomic.Int64
	status                    [6]atomic.Int64 // by class: status/100
}

// count wraps the measured handler: it counts every request by the status
// it answered (a 5xx to a client that had gone apart), and panics (which it
// lets go on to net/http, so the client sees what it would have seen).
func (s *stats) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		s.inFlight.Add(1)
		defer func() {
			s.inFlight.Add(-1)
			s.requests.Add(1)
			if v := recover(); v != nil {
				s.panics.Add(1)
				s.status[5].Add(1)
				panic(v)
			}
			code := sw.code
			if code == 0 && r.Context().Err() != nil {
				s.unanswered.Add(1) // the client had gone and got nothing
				return
			}
			if code == 0 {
				code = http.StatusOK
			}
			switch c := code / 100; {
			case c == 5 && r.Context().Err() != nil:
				s.gone5xx.Add(1)
			case c >= 1 && c <= 5:
				s.status[c].Add(1)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

func (s *stats) serve(w http.ResponseWriter, _ *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	out := scenario.Stats{
		Requests:   s.requests.Load(),
		Status2xx:  s.status[2].Load(),
		Status3xx:  s.status[3].Load(),
		Status4xx:  s.status[4].Load(),
		Status5xx:  s.status[5].Load(),
		Gone5xx:    s.gone5xx.Load(),
		Unanswered: s.unanswered.Load(),
		Panics:     s.panics.Load(),
		Wrong:      s.built.Wrong.Load(),
		Origin:     s.built.Origin.Load(),
		FailOpen:   s.built.FailOpen.Load(),
		RoundTrips: s.rt.N(),
		Mallocs:    ms.Mallocs,
		AllocBytes: ms.TotalAlloc,
		CPUNanos:   ru.Utime.Nano() + ru.Stime.Nano(),
		Goroutines: runtime.NumGoroutine(),
		InFlight:   s.inFlight.Load(),
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// statusWriter records the status a handler answered. It has Unwrap, so
// http.ResponseController reaches the connection through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
