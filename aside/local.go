package aside

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/psloop"
)

// tier is the bounded in-process tier: raw JSON by key, least recently
// used evicted past max entries, each entry with its own expiry. Its
// methods accept a nil receiver (no local tier) and do nothing.
//
// The epoch counts invalidations: a value read from Redis is put only if no
// invalidation happened since the read began, so a Delete elsewhere racing
// with a read here cannot leave the old value in the tier.
type tier struct {
	mu    sync.Mutex
	ttl   time.Duration
	now   func() time.Time
	lru   *simplelru.LRU[string, tierEntry]
	epoch uint64
}

type tierEntry struct {
	raw []byte
	exp time.Time
}

// newTier returns a tier of at most max entries, each kept at most ttl by
// the clock now.
func newTier(max int, ttl time.Duration, now func() time.Time) (*tier, error) {
	lru, err := simplelru.NewLRU[string, tierEntry](max, nil)
	if err != nil {
		return nil, err
	}
	return &tier{ttl: ttl, now: now, lru: lru}, nil
}

func (l *tier) get(key string) ([]byte, bool) {
	if l == nil {
		return nil, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.lru.Get(key)
	if !ok {
		return nil, false
	}
	if !l.now().Before(e.exp) {
		l.lru.Remove(key)
		return nil, false
	}
	return e.raw, true
}

// put stores raw for at most the tier's TTL and at most life (if positive),
// unless an invalidation happened after epoch was read.
func (l *tier) put(key string, raw []byte, life time.Duration, epoch uint64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.epoch == epoch {
		l.store(key, raw, life)
	}
}

// replace stores raw as put does, as an invalidation: a put whose read
// began before it is refused, so it cannot overwrite raw with an older
// value.
func (l *tier) replace(key string, raw []byte, life time.Duration) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch++
	l.store(key, raw, life)
}

// store does put's work; l.mu is held.
func (l *tier) store(key string, raw []byte, life time.Duration) {
	ttl := l.ttl
	if life > 0 && life < ttl {
		ttl = life
	}
	l.lru.Add(key, tierEntry{raw: raw, exp: l.now().Add(ttl)})
}

func (l *tier) remove(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch++
	l.lru.Remove(key)
}

func (l *tier) purge() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch++
	l.lru.Purge()
}

func (l *tier) epochNow() uint64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch
}

func (l *tier) len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// subscribe listens for invalidations on the channel: "<instance id> <key>"
// evicts key unless the message is this instance's own. go-redis
// reconnects and resubscribes; every (re)subscription purges the tier,
// since invalidations published while disconnected are lost.
//
// psloop pings a quiet connection and drops one that leaves the ping
// unanswered, so a half-open connection (a server or network gone without
// closing it) cannot stop invalidations unnoticed until TCP gives up many
// minutes later. The check runs every LocalTTL (between 100 ms and 3 s):
// lost invalidations are bounded by LocalTTL anyway.
//
// This uses go-redis directly rather than the pubsub package: feature
// packages do not import each other.
func (a *Cache) subscribe() {
	a.ps = a.rdb.Subscribe(context.Background(), a.o.Channel)
	ctx, stop := context.WithCancel(context.Background())
	a.subStop = stop
	a.subDone = make(chan struct{})
	every := min(max(a.o.LocalTTL, 100*time.Millisecond), 3*time.Second)
	go func() {
		defer close(a.subDone)
		confirmed := false
		psloop.Run(ctx, a.ps, every, psloop.Handler{
			Message: a.invalidate,
			Subscribed: func(*redis.Subscription) {
				a.local.purge()
				a.invalidated(true)
				if !confirmed {
					confirmed = true
					close(a.ready)
				}
			},
			Failed: func(err error, n int) bool {
				if n == 1 { // once per outage
					a.log.LogAttrs(ctx, slog.LevelWarn, "aside: invalidation subscription interrupted; reconnecting",
						slog.String("channel", a.o.Channel), slog.Any("err", err))
				}
				return true
			},
		})
	}()
}

// invalidate handles a message on the invalidation channel.
func (a *Cache) invalidate(m *redis.Message) bool {
	id, key, ok := strings.Cut(m.Payload, " ")
	if !ok {
		a.log.LogAttrs(context.Background(), slog.LevelWarn, "aside: foreign message on the invalidation channel",
			slog.String("channel", m.Channel))
		return true
	}
	if id != a.id {
		a.local.remove(key)
		a.invalidated(false)
	}
	return true
}
