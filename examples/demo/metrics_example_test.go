package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/sdk/metric"

	"github.com/redisware/redisware/cachehandler"
	"github.com/redisware/redisware/middleware"
	rwotel "github.com/redisware/redisware/otel"
	"github.com/redisware/redisware/ratelimit"
)

// Example_metrics wires /metrics into an app: the five lines between the
// README markers are the README's, which a test compares. The exporter
// registers with Prometheus' default registry, which promhttp.Handler
// serves.
func Example_metrics() {
	mr, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	mux := http.NewServeMux()

	// README: metrics
	exporter, err1 := prometheus.New()
	telemetry, err2 := rwotel.New(rwotel.Options{MeterProvider: metric.NewMeterProvider(metric.WithReader(exporter))})
	limiter, err3 := ratelimit.New(rdb, ratelimit.Options{Observer: telemetry.Ratelimit()})
	cache, err4 := cachehandler.New(rdb, cachehandler.Options{Observer: telemetry.Cachehandler()})
	mux.Handle("GET /metrics", promhttp.Handler())
	// README: end

	if err := errors.Join(err1, err2, err3, err4); err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	product := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprintln(w, "product", r.PathValue("id"))
	})
	limit := limiter.Handler(middleware.KeyByIP, ratelimit.PerMinute(60).Named("api"))
	mux.Handle("GET /products/{id}", limit(cache.Middleware(product)))

	for range 2 { // a miss, then a hit
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/products/42", nil))
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	text, _ := io.ReadAll(w.Body)
	scope := regexp.MustCompile(`otel_scope_[a-z_]+="[^"]*",?`) // the instrumentation scope, on every line
	for _, line := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(line, "redisware_ratelimit_decisions_total") || strings.HasPrefix(line, "redisware_cache_requests_total") {
			fmt.Println(scope.ReplaceAllString(line, ""))
		}
	}
	// Output:
	// redisware_cache_requests_total{outcome="hit"} 1
	// redisware_cache_requests_total{outcome="miss",reason="uri-miss"} 1
	// redisware_ratelimit_decisions_total{limit="api",outcome="allowed",source="redis"} 2
}
