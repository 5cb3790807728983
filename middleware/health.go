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

// Health returns a handler that PINGs Redis and answers 200 with the
// latency in JSON ({"status":"ok","redis_ms":0.4}), or 503 with
// {"status":"unavailable"} when the PING fails or takes longer than timeout.
// A timeout of zero or less means 1 s. The timeout holds for any client,
// whatever its own timeouts, so a hung Redis is reported within it; a
// go-redis client with ContextTimeoutEnabled stops its network I/O at the
// deadline itself, which spares the handler a goroutine per check. The
// error itself is logged with log/slog, never sent to the client.
func Health(rdb redis.UniversalClient, timeout time.Duration) http.Handler {
	if timeout <= 0 {
		timeout = time.Second
	}
	direct := bounded.HonoursDeadlines(rdb)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		err := bounded.Do(r.Context(), timeout, direct, func(ctx context.Context, rdb redis.UniversalClient) error {
			return rdb.Ping(ctx).Err()
		}, rdb)
		elapsed := time.Since(start)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if err != nil {
			slog.ErrorContext(r.Context(), "middleware: health: redis ping failed", "err", err, "elapsed", elapsed)
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "unavailable"})
			return
		}
		_ = json.NewEncoder(w).Encode(struct {
			Status  string  `json:"status"`
			RedisMS float64 `json:"redis_ms"`
		}{"ok", float64(elapsed.Microseconds()) / 1000})
	})
}
