package otel

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	otelglobal "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/redisware/redisware/internal/breaker"
	"github.com/redisware/redisware/middleware"
)

// ScopeName is the instrumentation scope of the meter and the tracer.
const ScopeName = "github.com/redisware/redisware/otel"

// Options configure New. The zero value uses the global providers.
type Options struct {
	// MeterProvider makes the instruments. Nil means the global one
	// (go.opentelemetry.io/otel.GetMeterProvider), which forwards to a
	// provider set globally later.
	MeterProvider metric.MeterProvider
	// TracerProvider makes the child spans of Redis calls. Nil means the
	// global one (go.opentelemetry.io/otel.GetTracerProvider).
	TracerProvider trace.TracerProvider
}

// Telemetry holds the instruments every package's Observer records into.
// Make one per process with New and share it; its methods return the
// Observers to set in each package's Options. It is safe for concurrent
// use.
type Telemetry struct {
	tracer trace.Tracer

	redisCall          metric.Float64Histogram
	breakerTransitions metric.Int64Counter
	breakerOpen        metric.Int64UpDownCounter
	breakerOutage      metric.Float64Histogram
	breakerRefused     metric.Int64Counter

	rl    ratelimitInstruments
	sess  sessionInstruments
	cache cacheInstruments
	aside asideInstruments
	ps    pubsubInstruments

	callAttrs    attrCache[callKey]
	stateAttrs   attrCache[[2]string] // package, state
	packageAttrs attrCache[string]
	attrs        attrCache[attrKey] // the packages' own instruments
}

// Bucket boundaries, in seconds for durations and bytes for sizes.
var (
	// redisBuckets spans a local round trip (≈100 µs) to a timeout.
	redisBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
	// slowBuckets are those of the OpenTelemetry HTTP conventions, for
	// fetches and waits.
	slowBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	// longBuckets are for outages and streams: seconds to hours.
	longBuckets = []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400}
	// sizeBuckets are powers of 4 from 256 B to 4 MiB.
	sizeBuckets = []float64{256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304}
)

// New makes the instruments. It fails only if the MeterProvider refuses
// one.
func New(o Options) (*Telemetry, error) {
	mp := o.MeterProvider
	if mp == nil {
		mp = otelglobal.GetMeterProvider()
	}
	tp := o.TracerProvider
	if tp == nil {
		tp = otelglobal.GetTracerProvider()
	}
	t := &Telemetry{tracer: tp.Tracer(ScopeName)}
	m := instruments{meter: mp.Meter(ScopeName)}
	t.redisCall = m.histogram("redisware.redis.call.duration", "s", "Duration of the Redis calls the packages make.", redisBuckets)
	t.breakerTransitions = m.counter("redisware.breaker.transitions", "{transition}", "Changes of state of the packages' circuit breakers.")
	t.breakerOpen = m.upDown("redisware.breaker.open", "{breaker}", "Circuit breakers open now.")
	t.breakerOutage = m.histogram("redisware.breaker.outage.duration", "s", "Length of the outages a circuit breaker saw, from its opening to its closing.", longBuckets)
	t.breakerRefused = m.counter("redisware.breaker.refused", "{request}", "Requests a circuit breaker refused (answered by the failure policy without calling Redis), counted as its outage ends.")
	t.rl.init(&m)
	t.sess.init(&m)
	t.cache.init(&m)
	t.aside.init(&m)
	t.ps.init(&m)
	if m.err != nil {
		return nil, m.err
	}
	return t, nil
}

// instruments makes instruments on one meter, keeping the first error.
type instruments struct {
	meter metric.Meter
	err   error
}

func (m *instruments) counter(name, unit, desc string) metric.Int64Counter {
	c, err := m.meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	m.err = errors.Join(m.err, err)
	return c
}

func (m *instruments) upDown(name, unit, desc string) metric.Int64UpDownCounter {
	c, err := m.meter.Int64UpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	m.err = errors.Join(m.err, err)
	return c
}

func (m *instruments) histogram(name, unit, desc string, buckets []float64) metric.Float64Histogram {
	h, err := m.meter.Float64Histogram(name, metric.WithUnit(unit), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(buckets...))
	m.err = errors.Join(m.err, err)
	return h
}

// redisCalls returns the OnRedisCall hook of package pkg: a histogram
// measurement and, under a recording span, a child span timed as the call
// was.
func (t *Telemetry) redisCalls(pkg string) func(context.Context, middleware.RedisCall) {
	return func(ctx context.Context, c middleware.RedisCall) {
		et := errorType(c.Err)
		t.redisCall.Record(ctx, c.Duration.Seconds(), t.callAttrs.get(callKey{pkg, c.Operation, et}, func() []attribute.KeyValue {
			kv := []attribute.KeyValue{attribute.String("package", pkg), attribute.String("operation", c.Operation)}
			if et != "" {
				kv = append(kv, attribute.String("error.type", et))
			}
			return kv
		}))
		if !trace.SpanFromContext(ctx).IsRecording() {
			return
		}
		end := time.Now()
		_, span := t.tracer.Start(ctx, "redisware.redis "+c.Operation,
			trace.WithTimestamp(end.Add(-c.Duration)),
			trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(
				attribute.String("db.system.name", "redis"),
				attribute.String("redisware.package", pkg),
				attribute.String("redisware.operation", c.Operation),
			))
		if c.Err != nil {
			span.SetAttributes(attribute.String("error.type", et))
			span.SetStatus(codes.Error, et)
		}
		span.End(trace.WithTimestamp(end))
	}
}

type callKey struct{ pkg, op, errType string }

// breakers returns the OnBreaker hook of package pkg. An outage counts
// two transitions, its opening and its closing; the reminders that it
// goes on change nothing.
func (t *Telemetry) breakers(pkg string) func(middleware.BreakerEvent) {
	return func(e middleware.BreakerEvent) {
		var state string
		switch e.Kind {
		case middleware.BreakerOpened:
			state = "open"
		case middleware.BreakerClosed:
			state = "closed"
		default:
			return
		}
		ctx := context.Background()
		t.breakerTransitions.Add(ctx, 1, t.stateAttrs.get([2]string{pkg, state}, func() []attribute.KeyValue {
			return []attribute.KeyValue{attribute.String("package", pkg), attribute.String("state", state)}
		}))
		pa := t.packageAttrs.get(pkg, func() []attribute.KeyValue { return []attribute.KeyValue{attribute.String("package", pkg)} })
		if e.Kind == middleware.BreakerOpened {
			t.breakerOpen.Add(ctx, 1, pa)
			return
		}
		t.breakerOpen.Add(ctx, -1, pa)
		t.breakerOutage.Record(ctx, e.Outage.Seconds(), pa)
		t.breakerRefused.Add(ctx, int64(e.Refused), pa)
	}
}

// attrKey identifies the attributes of one measurement of the packages'
// own instruments: up to three values, each from a small set.
type attrKey struct {
	metric  string
	a, b, c string
}

// attrCache keeps measurement options by key, so a measurement builds its
// attribute set once per distinct value rather than every time. Every
// attribute takes a few values (an outcome, a reason, a limit's name), so
// it stays small; past maxCached keys, sets are built and not kept.
type attrCache[K comparable] struct {
	mu sync.RWMutex
	m  map[K]metric.MeasurementOption
}

const maxCached = 4096

func (c *attrCache[K]) get(k K, kv func() []attribute.KeyValue) metric.MeasurementOption {
	c.mu.RLock()
	o, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return o
	}
	o = metric.WithAttributeSet(attribute.NewSet(kv()...))
	c.mu.Lock()
	if c.m == nil {
		c.m = map[K]metric.MeasurementOption{}
	}
	if len(c.m) < maxCached {
		c.m[k] = o
	}
	c.mu.Unlock()
	return o
}

// with returns the option of metricName's attributes named names (up to
// three) with values a, b, c; an empty value leaves its attribute out.
func (t *Telemetry) with(metricName string, names []string, a, b, c string) metric.MeasurementOption {
	return t.attrs.get(attrKey{metricName, a, b, c}, func() []attribute.KeyValue {
		vals := [3]string{a, b, c}
		kv := make([]attribute.KeyValue, 0, len(names))
		for i, n := range names {
			if vals[i] != "" {
				kv = append(kv, attribute.String(n, vals[i]))
			}
		}
		return kv
	})
}

// event adds an event to the recording span of ctx, if there is one.
func event(ctx context.Context, name string, kv ...attribute.KeyValue) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(name, trace.WithAttributes(kv...))
	}
}

// recording reports whether ctx carries a recording span, so events are
// built only then.
func recording(ctx context.Context) bool { return trace.SpanFromContext(ctx).IsRecording() }

// errorType classifies err for the error.type attribute: a few values
// that say what kind of failure it was, never its message (which may hold
// a key).
func errorType(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, breaker.ErrOpen):
		return "breaker_open"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection"
	}
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return "timeout"
		}
		return "connection"
	}
	var re redis.Error
	if errors.As(err, &re) {
		return "reply"
	}
	return "_OTHER"
}
