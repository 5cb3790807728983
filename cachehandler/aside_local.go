package cachehandler

import (
	"container/list"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// asideLocal is the bounded in-process tier: raw JSON by key, least
// recently used evicted past max entries, each entry with its own expiry.
// Its methods accept a nil receiver (no local tier) and do nothing.
//
// The epoch counts invalidations: a value read from Redis is put only if no
// invalidation happened since the read began, so a Delete elsewhere racing
// with a read here cannot leave the old value in the tier.
type asideLocal struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	now   func() time.Time
	ll    *list.List
	m     map[string]*list.Element
	epoch uint64
}

type asideLocalEntry struct {
	key string
	raw []byte
	exp time.Time
}

func asideNewLocal(max int, ttl time.Duration) *asideLocal {
	return &asideLocal{max: max, ttl: ttl, now: time.Now, ll: list.New(), m: map[string]*list.Element{}}
}

func (l *asideLocal) get(key string) ([]byte, bool) {
	if l == nil {
		return nil, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.m[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*asideLocalEntry)
	if !l.now().Before(e.exp) {
		l.ll.Remove(el)
		delete(l.m, key)
		return nil, false
	}
	l.ll.MoveToFront(el)
	return e.raw, true
}

// put stores raw for at most the tier's TTL and at most life (if positive),
// unless an invalidation happened after epoch was read.
func (l *asideLocal) put(key string, raw []byte, life time.Duration, epoch uint64) {
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
func (l *asideLocal) replace(key string, raw []byte, life time.Duration) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch++
	l.store(key, raw, life)
}

// store does put's work; l.mu is held.
func (l *asideLocal) store(key string, raw []byte, life time.Duration) {
	ttl := l.ttl
	if life > 0 && life < ttl {
		ttl = life
	}
	exp := l.now().Add(ttl)
	if el, ok := l.m[key]; ok {
		e := el.Value.(*asideLocalEntry)
		e.raw, e.exp = raw, exp
		l.ll.MoveToFront(el)
		return
	}
	l.m[key] = l.ll.PushFront(&asideLocalEntry{key: key, raw: raw, exp: exp})
	for l.ll.Len() > l.max {
		el := l.ll.Back()
		l.ll.Remove(el)
		delete(l.m, el.Value.(*asideLocalEntry).key)
	}
}

func (l *asideLocal) remove(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch++
	if el, ok := l.m[key]; ok {
		l.ll.Remove(el)
		delete(l.m, key)
	}
}

func (l *asideLocal) purge() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch++
	l.ll.Init()
	clear(l.m)
}

func (l *asideLocal) epochNow() uint64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch
}

func (l *asideLocal) len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ll.Len()
}

// subscribe listens for invalidations on the channel: "<instance id> <key>"
// evicts key unless the message is this instance's own. go-redis
// reconnects and resubscribes; every (re)subscription purges the tier,
// since invalidations published while disconnected are lost.
//
// A quiet connection is pinged, and one that leaves the ping unanswered is
// dropped: on a half-open connection (a server or network gone without
// closing it) the ping is only written and succeeds, so without awaiting
// its answer invalidations would stop arriving, unnoticed, until TCP gives
// up many minutes later. go-redis' own Channel health check has that gap.
// The check runs every LocalTTL (between 100 ms and 3 s): lost
// invalidations are bounded by LocalTTL anyway.
//
// This uses go-redis directly rather than the pubsub package: feature
// packages do not import each other.
func (a *Aside) subscribe() {
	a.ps = a.rdb.Subscribe(context.Background(), a.o.Channel)
	a.subStop = make(chan struct{})
	a.subDone = make(chan struct{})
	every := min(max(a.o.LocalTTL, 100*time.Millisecond), 3*time.Second)
	go func() {
		defer close(a.subDone)
		ctx := context.Background()
		const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
		backoff := minBackoff
		confirmed, pinged := false, false
		for {
			m, err := asideReceive(ctx, a.ps, every, pinged)
			select {
			case <-a.subStop:
				return
			default:
			}
			if err != nil {
				var ne net.Error
				if !pinged && errors.As(err, &ne) && ne.Timeout() {
					if err = a.ps.Ping(ctx); err == nil {
						pinged = true
						continue
					}
				}
				pinged = false
				if backoff == minBackoff { // once per outage
					a.log.LogAttrs(ctx, slog.LevelWarn, "cachehandler: aside: invalidation subscription interrupted; reconnecting",
						slog.String("channel", a.o.Channel), slog.Any("err", err))
				}
				t := time.NewTimer(backoff)
				select {
				case <-a.subStop:
					t.Stop()
					return
				case <-t.C:
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			backoff, pinged = minBackoff, false
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind != "subscribe" {
					continue
				}
				a.local.purge()
				if !confirmed {
					confirmed = true
					close(a.ready)
				}
			case *redis.Message:
				id, key, ok := strings.Cut(m.Payload, " ")
				if !ok {
					a.log.LogAttrs(ctx, slog.LevelWarn, "cachehandler: aside: foreign message on the invalidation channel",
						slog.String("channel", m.Channel))
					continue
				}
				if id != a.id {
					a.local.remove(key)
				}
			}
		}
	}()
}

// asideReceive waits for the next message, pong or confirmation: every
// long, or, when a ping is unanswered, as long as its answer may take. With
// a timeout of its own, ReceiveTimeout keeps the connection when time runs
// out (a quiet one is fine); with none and the deadline set by the context,
// it drops the connection as broken, and the next receive reconnects and
// resubscribes.
func asideReceive(ctx context.Context, ps *redis.PubSub, every time.Duration, pinged bool) (any, error) {
	if !pinged {
		return ps.ReceiveTimeout(ctx, every)
	}
	ctx, cancel := context.WithTimeout(ctx, max(every, time.Second))
	defer cancel()
	return ps.ReceiveTimeout(ctx, 0)
}
