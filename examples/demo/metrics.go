package main

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	rwotel "github.com/redisware/redisware/otel"
)

// mountMetrics registers GET /metrics, the library's metrics in the
// Prometheus text format, and makes the Telemetry whose Observers the
// other routes set. It runs first. The registry is the demo's own, not
// Prometheus' global one, so the page shows only what redisware exports
// (and the exporter's target_info).
func (d *demo) mountMetrics(mux *http.ServeMux) error {
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return err
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	d.closers = append(d.closers, shutdown{provider})
	if d.tel, err = rwotel.New(rwotel.Options{MeterProvider: provider}); err != nil {
		return err
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return nil
}

// shutdown closes a MeterProvider as an io.Closer.
type shutdown struct{ p *sdkmetric.MeterProvider }

func (s shutdown) Close() error { return s.p.Shutdown(context.Background()) }
