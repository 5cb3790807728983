package middleware

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/bounded"
)

// DefaultHealthTimeout bounds Health's PING when its timeout is zero or
// less.
const DefaultHealthTimeout = time.Second

// Health returns a handler that PINGs Redis and answers 200 with the
// latency in JSON ({"status":"ok","redis_ms":0.4}), or 503 with
// {"status":"unavailable"} when the PING fails or takes longer than timeout.
// A timeout of zero or less means DefaultHealthTimeout (1 s). The timeout
// holds for any client, whatever its own timeouts, so a hung Redis is
// reported within it; a go-redis client with ContextTimeoutEnabled stops
// its network I/O at the deadline itself, which spares the handler a
// goroutine per check. The error itself is logged with log/slog, never
// sent to the client; a check whose client hung up is answered nothing and
// logged at Debug level only. A nil rdb is a Redis that is never healthy: every
// check answers 503 and logs why.
func Health(rdb redis.UniversalClient, timeout time.Duration) http.Handler {
	if timeout <= 0 {
		timeout = DefaultHealthTimeout
	}
	if rdb == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			slog.ErrorContext(r.Context(), "middleware: health: no redis client (Health got nil)")
			unhealthy(w)
		})
	}
	direct := bounded.HonoursDeadlines(rdb)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		err := bounded.Do(r.Context(), timeout, direct, func(ctx context.Context, rdb redis.UniversalClient) error {
			return rdb.Ping(ctx).Err()
		}, rdb)
		elapsed := time.Since(start)
		if err != nil && bounded.Gone(r.Context()) {
			// The prober hung up: nobody to answer, and no news of Redis.
			slog.DebugContext(r.Context(), "middleware: health: client gone", "err", err)
			return
		}
		if err != nil {
			slog.ErrorContext(r.Context(), "middleware: health: redis ping failed", "err", err, "elapsed", elapsed)
			unhealthy(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(struct {
			Status  string  `json:"status"`
			RedisMS float64 `json:"redis_ms"`
		}{"ok", float64(elapsed.Microseconds()) / 1000})
	})
}

// unhealthy answers 503 {"status":"unavailable"}.
func unhealthy(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "unavailable"})
}
