package otel

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// sdk is an in-memory OpenTelemetry SDK: a manual metric reader and a span
// recorder, and a Telemetry recording into them.
type sdk struct {
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	tel    *Telemetry
}

func newSDK(t testing.TB) *sdk {
	t.Helper()
	s := &sdk{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = s.tp.Shutdown(context.Background())
	})
	tel, err := New(Options{MeterProvider: mp, TracerProvider: s.tp})
	if err != nil {
		t.Fatal(err)
	}
	s.tel = tel
	return s
}

// metrics is one collection of the reader.
type metrics struct {
	t  testing.TB
	rm metricdata.ResourceMetrics
}

func (s *sdk) collect(t testing.TB) *metrics {
	t.Helper()
	m := &metrics{t: t}
	if err := s.reader.Collect(context.Background(), &m.rm); err != nil {
		t.Fatal(err)
	}
	return m
}

// find returns the metric called name; the test fails if there is none.
func (m *metrics) find(name string) metricdata.Metrics {
	m.t.Helper()
	for _, sm := range m.rm.ScopeMetrics {
		for _, x := range sm.Metrics {
			if x.Name == name {
				return x
			}
		}
	}
	m.t.Fatalf("no metric %s", name)
	return metricdata.Metrics{}
}

// unit returns the unit of the metric called name.
func (m *metrics) unit(name string) string {
	m.t.Helper()
	return m.find(name).Unit
}

// attrs makes an attribute set of key, value pairs.
func attrs(kv ...string) attribute.Set {
	var list []attribute.KeyValue
	for i := 0; i+1 < len(kv); i += 2 {
		list = append(list, attribute.String(kv[i], kv[i+1]))
	}
	return attribute.NewSet(list...)
}

// sum returns the value of the counter called name for exactly the
// attributes kv (0 if it has no such point).
func (m *metrics) sum(name string, kv ...string) int64 {
	m.t.Helper()
	want := attrs(kv...)
	s, ok := m.find(name).Data.(metricdata.Sum[int64])
	if !ok {
		m.t.Fatalf("%s is a %T, not an int64 sum", name, m.find(name).Data)
	}
	for _, p := range s.DataPoints {
		if p.Attributes.Equals(&want) {
			return p.Value
		}
	}
	return 0
}

// total returns the sum of the counter called name over all its points.
func (m *metrics) total(name string) int64 {
	m.t.Helper()
	s, ok := m.find(name).Data.(metricdata.Sum[int64])
	if !ok {
		m.t.Fatalf("%s is a %T, not an int64 sum", name, m.find(name).Data)
	}
	var n int64
	for _, p := range s.DataPoints {
		n += p.Value
	}
	return n
}

// hist returns the count and sum of the histogram called name for
// exactly the attributes kv.
func (m *metrics) hist(name string, kv ...string) (uint64, float64) {
	m.t.Helper()
	want := attrs(kv...)
	h, ok := m.find(name).Data.(metricdata.Histogram[float64])
	if !ok {
		m.t.Fatalf("%s is a %T, not a float64 histogram", name, m.find(name).Data)
	}
	for _, p := range h.DataPoints {
		if p.Attributes.Equals(&want) {
			return p.Count, p.Sum
		}
	}
	return 0, 0
}

// points returns the attribute sets of the metric called name, encoded,
// to check that none holds what it must not.
func (m *metrics) points(name string) []string {
	m.t.Helper()
	var out []string
	switch d := m.find(name).Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes.Encoded(attribute.DefaultEncoder()))
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes.Encoded(attribute.DefaultEncoder()))
		}
	}
	return out
}

// attribute2map returns kv as strings by key.
func attribute2map(kv []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, a := range kv {
		m[string(a.Key)] = a.Value.Emit()
	}
	return m
}
