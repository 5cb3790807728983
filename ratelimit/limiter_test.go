package ratelimit

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/keys"
	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
)

func TestNewOptions(t *testing.T) {
	c, _ := redistest.New(t)
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"zero value", Options{}, ""},
		{"brace in prefix", Options{Prefix: "rl:{x}:"}, "Prefix"},
		{"closing brace in prefix", Options{Prefix: "rl}"}, "Prefix"},
		{"negative timeout", Options{Timeout: -time.Second}, "negative"},
		{"negative cooldown", Options{Breaker: middleware.BreakerOptions{MinCooldown: -1}}, "Options.Breaker"},
		{"negative breaker threshold", Options{Breaker: middleware.BreakerOptions{Threshold: -3}}, "Options.Breaker"},
		{"max cooldown below min", Options{Breaker: middleware.BreakerOptions{MinCooldown: time.Second, MaxCooldown: time.Millisecond}}, "Options.Breaker"},
		{"unknown failure policy", Options{Failure: 9}, "Failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(c, tt.o)
			if tt.want == "" {
				if err != nil || l == nil {
					t.Fatalf("New: %v", err)
				}
				if l.o.Prefix != DefaultPrefix || l.o.Timeout != DefaultTimeout || l.denies.size != DefaultCacheSize ||
					l.o.Logger == nil {
					t.Fatalf("defaults not filled: %+v", l.o)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want one about %q", err, tt.want)
			}
		})
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Fatal("New(nil) succeeded")
	}
	o := Options{}
	if _, err := New(c, o); err != nil || o.Prefix != "" {
		t.Fatalf("New changed the caller's Options: %+v, %v", o, err)
	}
}

// TestGCRA walks one key through a burst, a denial and the refill at
// known Redis times (miniredis), checking every number the script returns.
func TestGCRA(t *testing.T) {
	e := newEnv(t)
	if !e.fixed {
		t.Skip("needs a settable Redis clock (miniredis); TestHeadersRelative covers real Redis")
	}
	l := e.limiter(t, Options{})
	lim := PerMinute(3) // one unit every 20 s, burst 3
	steps := []struct {
		name      string
		advance   time.Duration
		cost      int
		allowed   bool
		remaining int
		reset     time.Duration
		retry     time.Duration
	}{
		{"first", 0, 1, true, 2, 20 * time.Second, 0},
		{"second", 0, 1, true, 1, 40 * time.Second, 0},
		{"third spends the burst", 0, 1, true, 0, 60 * time.Second, 0},
		{"fourth is denied", 0, 1, false, 0, 60 * time.Second, 20 * time.Second},
		{"denied again later, nothing consumed", 5 * time.Second, 1, false, 0, 55 * time.Second, 15 * time.Second},
		{"one unit back", 15 * time.Second, 1, true, 0, 60 * time.Second, 0},
		{"cost 2 with 0 left", 20 * time.Second, 2, false, 1, 40 * time.Second, 20 * time.Second},
		{"cost 0 only reports", 0, 0, true, 1, 40 * time.Second, 0},
		{"after the window, full again", 2 * time.Minute, 3, true, 0, 60 * time.Second, 0},
	}
	for _, s := range steps {
		e.advance(s.advance)
		res := mustAllow(t, l, "k", s.cost, lim)
		st := res.Limits[0]
		if res.Allowed != s.allowed || st.Remaining != s.remaining || st.Reset != s.reset || res.RetryAfter != s.retry {
			t.Fatalf("%s: allowed=%v remaining=%d reset=%v retry=%v; want %v %d %v %v (%v)",
				s.name, res.Allowed, st.Remaining, st.Reset, res.RetryAfter, s.allowed, s.remaining, s.reset, s.retry, res.Source)
		}
	}
}

// TestExactness: two instances with separate clients (two app servers)
// fire 500 concurrent requests at one key limited to 100 (burst 100):
// exactly 100 pass. The deny caches are off, so all 500 reach the script.
func TestExactness(t *testing.T) {
	b := redistest.Start(t)
	e := &env{b: b, clock: redistest.NewClock(time.Now())}
	l1 := e.limiter(t, Options{CacheSize: -1})
	l2 := e.limiter(t, Options{CacheSize: -1})
	if l1.rdb == l2.rdb {
		t.Fatal("the two limiters share a client")
	}
	// A period of an hour: one unit comes back every 36 s, far longer than
	// the test, so the count is exact whatever the machine's speed.
	lim := PerHour(100).WithBurst(100)
	var allowed, denied atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 500)
	start := make(chan struct{})
	for i := range 500 {
		l := l1
		if i%2 == 1 {
			l = l2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := l.Allow(context.Background(), "one-key", lim)
			if err != nil {
				errs <- err
				return
			}
			if res.Allowed {
				allowed.Add(1)
			} else {
				denied.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Allow: %v", err)
	}
	if allowed.Load() != 100 || denied.Load() != 400 {
		t.Fatalf("allowed %d, denied %d; want exactly 100 and 400", allowed.Load(), denied.Load())
	}
}

// TestMultiLimitAllOrNothing: a request the hourly limit denies does not
// consume the per-second one (its TAT in Redis is untouched).
func TestMultiLimitAllOrNothing(t *testing.T) {
	e := newEnv(t)
	l := e.limiter(t, Options{CacheSize: -1}) // every decision reaches the script
	sec, hour := PerSecond(10), PerHour(3)
	for i := range 3 {
		if res := mustAllow(t, l, "u", 1, sec, hour); !res.Allowed {
			t.Fatalf("request %d denied", i+1)
		}
	}
	ctx := context.Background()
	c := e.b.Client()
	secKey := e.b.Prefix + "ratelimit:{" + keys.Hash("u") + "}:second" + keyVersion
	hourKey := e.b.Prefix + "ratelimit:{" + keys.Hash("u") + "}:hour" + keyVersion
	before, err := c.MGet(ctx, secKey, hourKey).Result()
	if err != nil || before[0] == nil || before[1] == nil {
		t.Fatalf("keys not written: %v, %v", before, err)
	}
	for range 5 {
		res := mustAllow(t, l, "u", 1, sec, hour)
		if res.Allowed {
			t.Fatal("4th request allowed past PerHour(3)")
		}
		if res.Limits[1].RetryAfter == 0 || res.Limits[0].RetryAfter != 0 {
			t.Fatalf("denial blamed on the wrong limit: %+v", res.Limits)
		}
		if tight, _ := res.Tightest(); tight.Limit.Name() != "hour" {
			t.Fatalf("tightest = %s, want hour", tight.Limit.Name())
		}
	}
	after, err := c.MGet(ctx, secKey, hourKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	if after[0] != before[0] || after[1] != before[1] {
		t.Fatalf("denied requests changed the TATs: %v → %v", before, after)
	}
	if e.fixed {
		res := mustAllow(t, l, "u", 0, sec, hour)
		if r := res.Limits[0].Remaining; r != 7 {
			t.Fatalf("per-second remaining = %d, want 7 (only the 3 allowed requests count)", r)
		}
	}
	// Every key written has an expiry, until its TAT passes.
	for _, k := range []string{secKey, hourKey} {
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil || ttl <= 0 {
			t.Fatalf("PTTL %s = %v, %v; want a positive expiry", k, ttl, err)
		}
	}
	if ttl, _ := c.PTTL(ctx, hourKey).Result(); ttl > time.Hour {
		t.Fatalf("hour key expires in %v, after its TAT", ttl)
	}
}

// TestRoundTrips asserts the budget: one round trip per decision with up
// to three limits (also the very first, before the script is cached), and
// none for a key the deny cache knows is over its limit.
func TestRoundTrips(t *testing.T) {
	e := newEnv(t)
	sets := [][]Limit{
		{PerHour(2)},
		{PerSecond(5), PerHour(2)},
		{PerSecond(5), PerMinute(50), PerHour(2)},
	}
	for _, limits := range sets {
		name := []string{"one limit", "two limits", "three limits"}[len(limits)-1]
		t.Run(name, func(t *testing.T) {
			c := e.b.Client()
			if err := c.Ping(context.Background()).Err(); err != nil { // dial outside the count
				t.Fatal(err)
			}
			n := redistest.Count(c)
			l := e.limiterOn(t, c, Options{})
			for i, want := range []bool{true, true, false} {
				n.Reset()
				res := mustAllow(t, l, "rt:"+name, 1, limits...)
				if res.Allowed != want || res.Source != FromRedis {
					t.Fatalf("decision %d: allowed=%v from %v", i+1, res.Allowed, res.Source)
				}
				if n.N() != 1 {
					t.Fatalf("decision %d: %d round trips (%v), want 1", i+1, n.N(), n.Commands())
				}
			}
			n.Reset()
			for range 3 {
				res := mustAllow(t, l, "rt:"+name, 1, limits...)
				if res.Allowed || res.Source != FromCache {
					t.Fatalf("locally denied key: allowed=%v from %v", res.Allowed, res.Source)
				}
			}
			if n.N() != 0 {
				t.Fatalf("locally denied key: %d round trips (%v), want 0", n.N(), n.Commands())
			}
		})
	}
	t.Run("after Preload", func(t *testing.T) {
		c := e.b.Client()
		l := e.limiterOn(t, c, Options{})
		if err := l.Preload(context.Background()); err != nil {
			t.Fatal(err)
		}
		n := redistest.Count(c)
		mustAllow(t, l, "rt:load", 1, PerSecond(1))
		if got := n.Commands(); len(got) != 1 || got[0] != "evalsha" {
			t.Fatalf("commands %v, want one evalsha", got)
		}
	})
	t.Run("script flushed from a preloaded limiter", func(t *testing.T) {
		if !e.fixed {
			t.Skip("SCRIPT FLUSH would disturb other tests on a shared server")
		}
		c := e.b.Client()
		l := e.limiterOn(t, c, Options{})
		if err := l.Preload(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := c.ScriptFlush(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		n := redistest.Count(c)
		if res := mustAllow(t, l, "rt:flush", 1, PerSecond(1)); !res.Allowed {
			t.Fatal("denied")
		}
		if got := n.Commands(); strings.Join(got, " ") != "evalsha eval" {
			t.Fatalf("commands %v, want evalsha eval (script missing, then resent whole)", got)
		}
		n.Reset()
		mustAllow(t, l, "rt:flush2", 1, PerSecond(1))
		if got := n.Commands(); strings.Join(got, " ") != "evalsha" {
			t.Fatalf("commands %v, want evalsha", got)
		}
	})
}

// TestDenyCache: a cached denial ends with the limit's own refill, then
// Redis decides again; it never allows what Redis would deny.
func TestDenyCache(t *testing.T) {
	e := newEnv(t)
	c := e.b.Client()
	n := redistest.Count(c)
	l := e.limiterOn(t, c, Options{CacheSize: 2})
	lim := PerMinute(1)
	mustAllow(t, l, "a", 1, lim)
	if res := mustAllow(t, l, "a", 1, lim); res.Allowed || res.Source != FromRedis {
		t.Fatalf("second: %+v", res)
	}
	res := mustAllow(t, l, "a", 1, lim)
	if res.Allowed || res.Source != FromCache || res.RetryAfter <= 0 || res.RetryAfter > time.Minute {
		t.Fatalf("cached denial: %+v", res)
	}
	// A larger cost is denied locally too; cost 0 (a report) asks Redis.
	if res := mustAllow(t, l, "a", 0, lim); !res.Allowed || res.Source != FromRedis {
		t.Fatalf("cost 0: %+v", res)
	}
	// Other limits on the same key are a different entry.
	if res := mustAllow(t, l, "a", 1, lim.Named("other")); !res.Allowed {
		t.Fatalf("a different limit shares the denial: %+v", res)
	}
	// The cache is bounded: two more denied keys evict "a".
	for _, k := range []string{"b", "c"} {
		mustAllow(t, l, k, 1, lim)
		mustAllow(t, l, k, 1, lim)
	}
	if got := l.denies.len(); got != 2 {
		t.Fatalf("deny cache holds %d keys, want its bound 2", got)
	}
	n.Reset()
	if res := mustAllow(t, l, "a", 1, lim); res.Allowed || res.Source != FromRedis || n.N() != 1 {
		t.Fatalf("evicted key: %+v after %d round trips", res, n.N())
	}
	if !e.fixed {
		return // the rest moves Redis' clock
	}
	e.advance(time.Minute)
	if res := mustAllow(t, l, "a", 1, lim); !res.Allowed || res.Source != FromRedis {
		t.Fatalf("after the refill: %+v", res)
	}
}

// TestCorruptState: foreign data under a limiter's key counts as no
// history and is overwritten; it never fails or denies forever.
func TestCorruptState(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.b.Client()
	l := e.limiterOn(t, c, Options{CacheSize: -1})
	lim := PerHour(2)
	base := e.b.Prefix + "ratelimit:{"
	tests := []struct {
		name  string
		write func(key string) error
		ok    bool
	}{
		{"not a number", func(k string) error { return c.Set(ctx, k, "garbage", time.Hour).Err() }, true},
		{"a hash", func(k string) error { return c.HSet(ctx, k, "f", "v").Err() }, true},
		{"nan", func(k string) error { return c.Set(ctx, k, "nan", time.Hour).Err() }, true},
		{"inf", func(k string) error { return c.Set(ctx, k, "inf", time.Hour).Err() }, true},
		{"-inf", func(k string) error { return c.Set(ctx, k, "-inf", time.Hour).Err() }, true},
		{"version 1's format", func(k string) error { return c.Set(ctx, k, "9999999999999999", 0).Err() }, true},
		{"fraction not below scale", func(k string) error { return c.Set(ctx, k, "9999999999999999:7:7", 0).Err() }, true},
		{"fraction with a point", func(k string) error { return c.Set(ctx, k, "9999999999999999.5:0:1", 0).Err() }, true},
		{"zero scale", func(k string) error { return c.Set(ctx, k, "9999999999999999:0:0", 0).Err() }, true},
		{"negative", func(k string) error { return c.Set(ctx, k, "-9999999999999999:0:1", 0).Err() }, true},
		{"far future, no expiry", func(k string) error { return c.Set(ctx, k, "9999999999999999:0:1", 0).Err() }, false},
		{"beyond 2^53, another scale", func(k string) error { return c.Set(ctx, k, "99999999999999999:3:5", 0).Err() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "corrupt:" + tt.name
			rk := base + keys.Hash(key) + "}:hour" + keyVersion
			if err := tt.write(rk); err != nil {
				t.Fatal(err)
			}
			res, err := l.Allow(ctx, key, lim)
			if err != nil {
				t.Fatalf("Allow: %v", err)
			}
			if res.Allowed != tt.ok {
				t.Fatalf("allowed = %v, want %v", res.Allowed, tt.ok)
			}
			if !res.Allowed && res.RetryAfter > lim.Period() {
				t.Fatalf("a corrupt key denies for %v, longer than one burst", res.RetryAfter)
			}
			if res.Allowed {
				if ttl, err := c.PTTL(ctx, rk).Result(); err != nil || ttl <= 0 {
					t.Fatalf("rewritten key has PTTL %v, %v", ttl, err)
				}
			}
		})
	}
}

// TestLongestLimit runs the largest valid limit, one unit per year with a
// burst of two (a TAT two years ahead), through the script on both
// backends: microsecond TATs near 2^51 stay exact in Lua's doubles, are
// stored as "µs:fraction:scale", expire when they pass, and the denial's
// RetryAfter is one interval to the microsecond (on miniredis, whose
// clock stands still).
func TestLongestLimit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.b.Client()
	l := e.limiterOn(t, c, Options{CacheSize: -1})
	lim := Per(1, maxPeriod).WithBurst(2)
	if err := ValidateLimits(lim); err != nil {
		t.Fatal(err)
	}
	iv := maxPeriod
	before := e.b.Now(ctx)
	for i, want := range []bool{true, true, false} {
		res := mustAllow(t, l, "long", 1, lim)
		if res.Allowed != want {
			t.Fatalf("request %d: allowed = %v", i+1, res.Allowed)
		}
		if !want {
			elapsed := e.b.Now(ctx).Sub(before)
			if res.RetryAfter > iv || res.RetryAfter < iv-elapsed-time.Microsecond {
				t.Fatalf("RetryAfter = %v, want within [%v, %v]", res.RetryAfter, iv-elapsed, iv)
			}
			if e.fixed && res.RetryAfter != iv {
				t.Fatalf("RetryAfter = %v, want exactly %v", res.RetryAfter, iv)
			}
		}
	}
	rk := e.b.Prefix + "ratelimit:{" + keys.Hash("long") + "}:" + lim.Name() + keyVersion
	v, err := c.Get(ctx, rk).Result()
	if err != nil {
		t.Fatal(err)
	}
	tat, frac, scale, ok := parseTAT(v)
	if !ok || frac != 0 || scale != 1 {
		t.Fatalf("stored TAT %q, want whole microseconds on scale 1", v)
	}
	if want := before.Add(2 * iv).UnixMicro(); tat < want || (e.fixed && tat != want) {
		t.Fatalf("stored TAT %d, want %d (two intervals after the first request)", tat, want)
	}
	ttl, err := c.PTTL(ctx, rk).Result()
	if err != nil || ttl <= 2*iv-time.Minute || ttl > 2*iv {
		t.Fatalf("PTTL %v, %v; want just under %v", ttl, err, 2*iv)
	}
}

// parseTAT splits a stored "a:f:m" TAT.
func parseTAT(v string) (a, f, m int64, ok bool) {
	parts := strings.Split(v, ":")
	if len(parts) != 3 {
		return 0, 0, 0, false
	}
	var errs [3]error
	a, errs[0] = strconv.ParseInt(parts[0], 10, 64)
	f, errs[1] = strconv.ParseInt(parts[1], 10, 64)
	m, errs[2] = strconv.ParseInt(parts[2], 10, 64)
	return a, f, m, errs[0] == nil && errs[1] == nil && errs[2] == nil
}

func TestCostErrors(t *testing.T) {
	e := newEnv(t)
	c := e.b.Client()
	n := redistest.Count(c)
	l := e.limiterOn(t, c, Options{})
	ctx := context.Background()
	if _, err := l.AllowN(ctx, "k", -1, PerSecond(5)); !errors.Is(err, ErrInvalidCost) {
		t.Fatalf("negative cost: %v", err)
	}
	res, err := l.AllowN(ctx, "k", 6, PerSecond(5), PerMinute(100))
	if !errors.Is(err, ErrCostExceedsBurst) || res.Allowed {
		t.Fatalf("cost over burst: %+v, %v", res, err)
	}
	if _, err := l.Allow(ctx, "k"); !errors.Is(err, ErrInvalidLimit) {
		t.Fatalf("no limits: %v", err)
	}
	if n.N() != 0 {
		t.Fatalf("invalid calls reached Redis: %v", n.Commands())
	}
}

// TestAllowRemembersPolicySets: Allow validates and precomputes a set of
// limits once; different sets, even with the same names, stay apart.
func TestAllowRemembersPolicySets(t *testing.T) {
	e := newEnv(t)
	l := e.limiter(t, Options{})
	a := mustAllow(t, l, "k", 1, PerMinute(10))
	b := mustAllow(t, l, "k2", 1, Per(20, time.Minute).Named("minute"))
	if a.Limits[0].Limit.Count() != 10 || b.Limits[0].Limit.Count() != 20 {
		t.Fatalf("counts %d, %d: sets with one name were confused", a.Limits[0].Limit.Count(), b.Limits[0].Limit.Count())
	}
	mustAllow(t, l, "k", 1, PerMinute(10))
	if len(l.sets) != 2 {
		t.Fatalf("%d sets remembered, want 2", len(l.sets))
	}
	if _, err := l.Allow(context.Background(), "k", PerMinute(0)); !errors.Is(err, ErrInvalidLimit) {
		t.Fatalf("invalid limit: %v", err)
	}
	if len(l.sets) != 2 {
		t.Fatal("an invalid set was remembered")
	}
	// Code that passes ever new sets (per-customer quotas, say) cannot grow
	// the memory without bound: past maxSets, sets are built per call.
	for i := range maxSets + 100 {
		ps, err := l.policySetFor([]Limit{PerMinute(i + 1)})
		if err != nil || ps.limits[0].Count() != i+1 {
			t.Fatalf("set %d: %v", i, err)
		}
	}
	if len(l.sets) != maxSets {
		t.Fatalf("%d sets remembered, want the bound %d", len(l.sets), maxSets)
	}
}
