package otel

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redisware/redisware/aside"
	"github.com/redisware/redisware/cachehandler"
	"github.com/redisware/redisware/internal/breaker"
	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
	"github.com/redisware/redisware/pubsub"
	"github.com/redisware/redisware/ratelimit"
	"github.com/redisware/redisware/session"
)

// TestRatelimitAndOutage: after N allowed and M denied requests and an
// outage of Redis, the exported metrics count exactly the decisions the
// limiter returned, its Redis calls, and the outage: its length on the
// limiter's clock and the requests its breaker refused.
func TestRatelimitAndOutage(t *testing.T) {
	b := redistest.Start(t)
	s := newSDK(t)
	ctx := context.Background()
	clock := redistest.NewClock(time.Now())
	p := b.NewProxy()
	lim, err := ratelimit.New(b.ClientAt(p.Addr()), ratelimit.Options{
		Prefix: b.Prefix + "ratelimit:", Now: clock.Now, Timeout: time.Second,
		Breaker:  middleware.BreakerOptions{Threshold: 2, MinCooldown: time.Second, MaxCooldown: time.Second},
		OnError:  func(context.Context, error) {},
		Observer: s.tel.Ratelimit(),
	})
	if err != nil {
		t.Fatal(err)
	}
	api := ratelimit.PerMinute(3).Named("api")

	// What the limiter answered, tallied as the metrics should count it.
	decisions := map[[2]string]int64{} // outcome, source
	calls := map[string]int64{}        // error.type ("" for none) → decide calls
	var refused int64
	decide := func(key string) ratelimit.Result {
		t.Helper()
		res, err := lim.Allow(ctx, key, api)
		outcome := "denied"
		if res.Allowed {
			outcome = "allowed"
		}
		decisions[[2]string{outcome, res.Source.String()}]++
		switch {
		case err == nil && res.Source == ratelimit.FromRedis:
			calls[""]++
		case errors.Is(err, breaker.ErrOpen):
			refused++
		case err != nil:
			calls[errorType(err)]++
		}
		return res
	}

	for range 5 { // 3 allowed, then denied by Redis, then by the deny cache
		decide("client")
	}
	if decisions[[2]string{"allowed", "redis"}] != 3 || decisions[[2]string{"denied", "redis"}] != 1 || decisions[[2]string{"denied", "cache"}] != 1 {
		t.Fatalf("before the outage: %v", decisions)
	}
	p.Down()
	for range 4 { // two failures open the breaker, which refuses the others
		decide("during")
	}
	if refused != 2 {
		t.Fatalf("the breaker refused %d of 4, want 2: %v", refused, decisions)
	}
	opened := clock.Now()
	p.Up()
	probes := 0
	for ; probes < 4; probes++ { // the first probe may meet a connection the outage closed
		clock.Add(time.Second)
		if decide("after").Source == ratelimit.FromRedis {
			probes++
			break
		}
	}
	outage := clock.Now().Sub(opened)

	m := s.collect(t)
	for k, n := range decisions {
		if got := m.sum("redisware.ratelimit.decisions", "limit", "api", "outcome", k[0], "source", k[1]); got != n {
			t.Errorf("decisions %v: %d, want %d", k, got, n)
		}
	}
	if got, want := m.total("redisware.ratelimit.decisions"), int64(5+4+probes); got != want {
		t.Errorf("%d decisions in all, want %d", got, want)
	}
	if got := m.sum("redisware.ratelimit.cost", "limit", "api", "outcome", "allowed"); got != decisions[[2]string{"allowed", "redis"}]+decisions[[2]string{"allowed", "fail-open"}] {
		t.Errorf("cost of the allowed: %d", got)
	}
	for et, n := range calls {
		kv := []string{"package", "ratelimit", "operation", "decide"}
		if et != "" {
			kv = append(kv, "error.type", et)
		}
		if got, _ := m.hist("redisware.redis.call.duration", kv...); got != uint64(n) {
			t.Errorf("decide calls with error %q: %d, want %d", et, got, n)
		}
	}
	for state, want := range map[string]int64{"open": 1, "closed": 1} {
		if got := m.sum("redisware.breaker.transitions", "package", "ratelimit", "state", state); got != want {
			t.Errorf("transitions to %s: %d, want %d", state, got, want)
		}
	}
	if got := m.sum("redisware.breaker.open", "package", "ratelimit"); got != 0 {
		t.Errorf("%d breakers open after the outage", got)
	}
	if n, sum := m.hist("redisware.breaker.outage.duration", "package", "ratelimit"); n != 1 || math.Abs(sum-outage.Seconds()) > 1e-9 {
		t.Errorf("outages: %d lasting %v s, want 1 lasting %v", n, sum, outage.Seconds())
	}
	if got := m.sum("redisware.breaker.refused", "package", "ratelimit"); got != refused {
		t.Errorf("refused %d, want %d", got, refused)
	}
	for name, unit := range map[string]string{
		"redisware.ratelimit.decisions":     "{decision}",
		"redisware.ratelimit.cost":          "{unit}",
		"redisware.redis.call.duration":     "s",
		"redisware.breaker.transitions":     "{transition}",
		"redisware.breaker.open":            "{breaker}",
		"redisware.breaker.outage.duration": "s",
		"redisware.breaker.refused":         "{request}",
	} {
		if got := m.unit(name); got != unit {
			t.Errorf("%s: unit %q, want %q", name, got, unit)
		}
	}
}

// TestPackages: a hit and a miss of the HTTP cache, a session created and
// loaded, a cache-aside miss and local hit, and messages published and
// received are exported exactly, in their units, with nothing of the
// requests (URL, key, cookie, channel) in any attribute.
func TestPackages(t *testing.T) {
	b := redistest.Start(t)
	s := newSDK(t)
	ctx := context.Background()
	rdb := b.Client()

	cache, err := cachehandler.New(rdb, cachehandler.Options{Prefix: b.Prefix + "cache:", Timeout: time.Minute, Observer: s.tel.Cachehandler()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	body := strings.Repeat("x", 1000)
	h := cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte(body))
	}))
	for range 2 { // a miss, then a hit
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://example.com/secret-path?token=t0p", nil))
	}

	m, err := session.New(rdb, session.Options{Keys: [][]byte{bytes.Repeat([]byte("k"), 32)}, Prefix: b.Prefix + "session:", Observer: s.tel.Session()})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = session.FromContext(r.Context()).Put("n", 1)
	})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	req := httptest.NewRequest("GET", "/", nil)
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	m.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(httptest.NewRecorder(), req)

	obs := s.tel.Aside()
	record, subscribed := obs.OnInvalidation, make(chan struct{}, 1)
	obs.OnInvalidation = func(e aside.InvalidationEvent) { // the first subscription empties the local tier:
		record(e) // wait for it before filling the tier
		select {
		case subscribed <- struct{}{}:
		default:
		}
	}
	items, err := aside.New(rdb, aside.Options{Prefix: b.Prefix, LocalSize: 10, Timeout: time.Minute, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = items.Close() })
	select {
	case <-subscribed:
	case <-time.After(10 * time.Second):
		t.Fatal("the invalidation subscription was not confirmed")
	}
	for range 2 { // a miss, then a hit in the local tier
		if _, err := aside.GetOrSet(ctx, items, "user:42", time.Hour, func(context.Context) (int, error) { return 42, nil }); err != nil {
			t.Fatal(err)
		}
	}

	ch := b.Prefix + "user:42:inbox"
	sub, err := pubsub.Open[int](ctx, rdb, pubsub.SubscribeOptions{Channels: []string{ch}, Observer: s.tel.Pubsub()})
	if err != nil {
		t.Fatal(err)
	}
	next, stop := iter.Pull2(sub.Messages())
	defer stop()
	pub, err := pubsub.NewPublisher(rdb, pubsub.PublishOptions{Observer: s.tel.Pubsub()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := pub.Publish(ctx, ch, i); err != nil {
			t.Fatal(err)
		}
		if _, err, ok := next(); !ok || err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}

	got := s.collect(t)
	for _, c := range []struct {
		name string
		kv   []string
		want int64
	}{
		{"redisware.cache.requests", []string{"outcome", "miss", "reason", "uri-miss"}, 1},
		{"redisware.cache.requests", []string{"outcome", "hit"}, 1},
		{"redisware.cache.stores", []string{"outcome", "stored", "revalidated", "false"}, 1},
		{"redisware.session.loads", []string{"outcome", "new"}, 1},
		{"redisware.session.loads", []string{"outcome", "found"}, 1},
		{"redisware.session.saves", []string{"outcome", "stored"}, 1},
		{"redisware.session.lifecycle", []string{"event", "created"}, 1},
		{"redisware.aside.gets", []string{"outcome", "miss", "tier", "redis"}, 1},
		{"redisware.aside.gets", []string{"outcome", "hit", "tier", "local"}, 1},
		{"redisware.aside.invalidations", []string{"kind", "resync"}, 1},
		{"redisware.pubsub.messages.published", []string{"outcome", "ok"}, 2},
		{"redisware.pubsub.messages.received", []string{"outcome", "ok"}, 2},
	} {
		if n := got.sum(c.name, c.kv...); n != c.want {
			t.Errorf("%s %v: %d, want %d", c.name, c.kv, n, c.want)
		}
	}
	if n, sum := got.hist("redisware.cache.body.size", "outcome", "hit"); n != 1 || sum != float64(len(body)) {
		t.Errorf("hit bodies: %d of %v bytes, want 1 of %d", n, sum, len(body))
	}
	if n, _ := got.hist("redisware.aside.fetch.duration", "outcome", "ok"); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	for _, c := range []struct {
		pkg, op string
		want    uint64
	}{
		{"cachehandler", "lookup", 2}, {"cachehandler", "lock", 1}, {"cachehandler", "store", 1},
		{"session", "save", 1}, {"session", "load", 1},
		{"aside", "get", 1}, {"aside", "lock", 1}, {"aside", "store", 1},
		{"pubsub", "subscribe", 1}, {"pubsub", "publish", 2},
	} {
		if n, _ := got.hist("redisware.redis.call.duration", "package", c.pkg, "operation", c.op); n != c.want {
			t.Errorf("%s %s calls: %d, want %d", c.pkg, c.op, n, c.want)
		}
	}
	for name, unit := range map[string]string{
		"redisware.cache.requests":            "{request}",
		"redisware.cache.body.size":           "By",
		"redisware.cache.stores":              "{response}",
		"redisware.session.loads":             "{load}",
		"redisware.session.lifecycle":         "{event}",
		"redisware.aside.gets":                "{get}",
		"redisware.aside.fetch.duration":      "s",
		"redisware.pubsub.messages.published": "{message}",
	} {
		if u := got.unit(name); u != unit {
			t.Errorf("%s: unit %q, want %q", name, u, unit)
		}
	}
	for _, sm := range got.rm.ScopeMetrics {
		for _, x := range sm.Metrics {
			for _, pt := range got.points(x.Name) {
				for _, secret := range []string{"example.com", "secret-path", "t0p", "user:42", b.Prefix} {
					if strings.Contains(pt, secret) {
						t.Errorf("%s has an attribute with %q: %s", x.Name, secret, pt)
					}
				}
			}
		}
	}
}

// TestSpans: under a request's recording span, the packages' decisions
// become events of that span and each Redis call a child span timed as
// the call was; without one, no span is made.
func TestSpans(t *testing.T) {
	b := redistest.Start(t)
	s := newSDK(t)
	lim, err := ratelimit.New(b.Client(), ratelimit.Options{Prefix: b.Prefix + "ratelimit:", Timeout: time.Minute, Observer: s.tel.Ratelimit()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lim.Allow(context.Background(), "k", ratelimit.PerMinute(5).Named("api")); err != nil {
		t.Fatal(err)
	}
	if n := len(s.spans.Ended()); n != 0 {
		t.Fatalf("%d spans made without a request span", n)
	}

	ctx, parent := s.tp.Tracer("test").Start(context.Background(), "request")
	if _, err := lim.Allow(ctx, "k", ratelimit.PerMinute(5).Named("api")); err != nil {
		t.Fatal(err)
	}
	parent.End()
	ended := s.spans.Ended()
	if len(ended) != 2 {
		t.Fatalf("%d spans, want the call's and the request's", len(ended))
	}
	call, req := ended[0], ended[1]
	if call.Name() != "redisware.redis decide" || call.Parent().SpanID() != req.SpanContext().SpanID() || call.SpanKind().String() != "client" {
		t.Fatalf("call span %q, parent %v, kind %v", call.Name(), call.Parent().SpanID(), call.SpanKind())
	}
	if !call.StartTime().Before(call.EndTime()) || call.StartTime().Before(req.StartTime()) {
		t.Fatalf("call span from %v to %v, request from %v", call.StartTime(), call.EndTime(), req.StartTime())
	}
	events := req.Events()
	if len(events) != 1 || events[0].Name != "redisware.ratelimit.decision" {
		t.Fatalf("request events %v", events)
	}
	got := attribute2map(events[0].Attributes)
	if got["limit"] != "api" || got["outcome"] != "allowed" || got["source"] != "redis" || got["cost"] != "1" {
		t.Fatalf("decision event attributes %v", got)
	}
}
