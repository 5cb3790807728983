package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
)

// maxUserID bounds the user IDs Login accepts.
const maxUserID = 512

// Session is one visitor's session during one request. Its methods are
// safe for concurrent use by the request's goroutines. Changes are kept in
// memory and saved by the middleware in one round trip right before the
// response's first byte; only the fields changed are written, so requests
// that change different keys of one session never undo each other.
type Session struct {
	m *Manager

	mu      sync.Mutex
	id      string            // "" until the session is stored
	key     string            // id's Redis key, "" with id
	stored  bool              // id exists in Redis
	values  map[string]string // key → JSON, this request's view
	dirty   map[string]struct{}
	removed map[string]struct{}
	incr    map[string]int64
	clear   bool
	user    string
	created time.Time
	seen    time.Time

	hadCookie  bool   // the request carried a valid cookie
	login      bool   // Login ran: a new ID must be issued and indexed
	deleteID   string // a stored ID to delete at commit (Login, Destroy)
	deleteUser string // the user deleteID was indexed under
	destroyed  bool   // Destroy ran: expire the cookie unless a new session is made
}

type ctxKey struct{}

// FromContext returns the request's session. It is never nil under
// Manager.Middleware and nil elsewhere.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	return s
}

func newSession(m *Manager) *Session {
	return &Session{m: m, values: map[string]string{}}
}

// ID returns the session's ID, or "" while it is not stored in Redis (a new
// session gets its ID when it is first saved). The ID is a secret bearer
// token: show it to nobody but its owner.
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// UserID returns the user the session is logged in as, or "".
func (s *Session) UserID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}

// Created returns when the session was created or last renewed by Login,
// or the zero time for a new session.
func (s *Session) Created() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.created
}

// LastSeen returns when the session's idle expiry was last refreshed before
// this request, or the zero time for a new session.
func (s *Session) LastSeen() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen
}

// Put stores v, encoded as JSON, under key. It returns an error, and
// changes nothing, when v cannot be encoded.
func (s *Session) Put(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("session: put %q: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[key] = string(b)
	s.mark(key)
	delete(s.removed, key)
	delete(s.incr, key)
	return nil
}

func (s *Session) mark(key string) {
	if s.dirty == nil {
		s.dirty = map[string]struct{}{}
	}
	s.dirty[key] = struct{}{}
}

// Remove deletes key. Only that field is removed in Redis.
func (s *Session) Remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(key)
}

func (s *Session) remove(key string) {
	delete(s.values, key)
	delete(s.dirty, key)
	delete(s.incr, key)
	if s.removed == nil {
		s.removed = map[string]struct{}{}
	}
	s.removed[key] = struct{}{}
}

// Clear removes every value, including those other requests stored since
// this one loaded the session. The session, its ID and its user stay.
func (s *Session) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values = map[string]string{}
	s.dirty, s.removed, s.incr = nil, nil, nil
	s.clear = true
}

// Incr adds delta to the integer stored under key (a missing key counts as
// 0). The addition happens in Redis when the session is saved, so
// concurrent increments of one key from many requests all count, at no
// extra round trip. The value returned, like Get's after Incr, is this
// request's estimate: the value it loaded plus its own increments. Under
// concurrency it is not what Redis holds after the save (two requests that
// loaded 4 both show 5, and Redis holds 6); use IncrNow when the number
// shown must be the stored one. It fails when key holds something other
// than an integer or the sum overflows an int64; the save fails (and
// writes nothing) when that is so of the value in Redis.
func (s *Session) Incr(key string, delta int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.incrLocal(key, delta)
}

// incrLocal is Incr with s.mu held.
func (s *Session) incrLocal(key string, delta int64) (int64, error) {
	var cur int64
	if raw, ok := s.values[key]; ok {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("session: incr %q: the value is not an integer", key)
		}
		cur = n
	}
	if delta > 0 && cur > math.MaxInt64-delta || delta < 0 && cur < math.MinInt64-delta {
		return 0, fmt.Errorf("session: incr %q: %d + %d overflows an int64", key, cur, delta)
	}
	cur += delta
	s.values[key] = strconv.FormatInt(cur, 10)
	_, put := s.dirty[key]
	_, removed := s.removed[key]
	if put || removed || s.clear {
		// This request overwrites or dropped the stored value anyway: the
		// sum is known, so store it as a Put.
		s.mark(key)
		delete(s.removed, key)
		return cur, nil
	}
	if s.incr == nil {
		s.incr = map[string]int64{}
	}
	s.incr[key] += delta
	return cur, nil
}

// IncrNow adds delta to the integer stored under key in Redis at once, in
// one round trip, and returns the value Redis holds right after: the
// stored value, not an estimate, so concurrent requests of one session
// get distinct, consecutive numbers (a ticket, "visit number n"). Get
// returns it too, plus any later Incr of this request. The increment is
// saved even if the rest of the request's changes are not.
//
// Two cases need no round trip, as this request's value is the one that
// will be stored: a session not yet in Redis (a new one, or one Login or
// Destroy renews, whose values no other request can see), and a key this
// request Put, Removed or Cleared; IncrNow then works as Incr. Increments
// of key that Incr held for the save are applied with this one.
//
// It fails, and Get keeps the estimate, when Redis fails (bounded by
// Options.Timeout, through the breaker; after a timeout the increment may
// have been applied or not), when the session expired or was destroyed
// meanwhile, or as Incr does. It works on Redis Cluster: it touches one key.
func (s *Session) IncrNow(ctx context.Context, key string, delta int64) (int64, error) {
	s.mu.Lock()
	_, put := s.dirty[key]
	_, removed := s.removed[key]
	if !s.stored || put || removed || s.clear {
		defer s.mu.Unlock()
		return s.incrLocal(key, delta)
	}
	pending := s.incr[key]
	if delta > 0 && pending > math.MaxInt64-delta || delta < 0 && pending < math.MinInt64-delta {
		s.mu.Unlock()
		return 0, fmt.Errorf("session: incr %q: %d + %d overflows an int64", key, pending, delta)
	}
	delete(s.incr, key)
	id := s.id
	s.mu.Unlock()

	m := s.m
	res, err := call(ctx, m, "incr", func(ctx context.Context, a incrArgs) ([]any, error) {
		return a.m.scripts.Run(ctx, incrScript, []string{a.m.key(a.id)},
			ms(a.now), a.m.idleArg, a.m.lifetimeArg, valuePrefix+a.key, a.delta, newNonce()).Slice()
	}, incrArgs{m, id, key, pending + delta, m.o.Now()})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if pending != 0 {
			s.incr[key] += pending // for the save, as if IncrNow never ran
		}
		return 0, fmt.Errorf("session: incr %q: %w", key, err)
	}
	code, _ := res[0].(int64)
	var n int64
	switch {
	case code == saveOK && len(res) == 2:
		switch v := res[1].(type) {
		case int64:
			n = v
		case string:
			n, err = strconv.ParseInt(v, 10, 64)
		default:
			err = fmt.Errorf("unexpected reply %v", res)
		}
	case code == saveGone:
		err = errors.New("the session no longer exists")
	case code == saveNotInt:
		err = errors.New("the stored value is not an integer, or the sum overflows")
	default:
		err = fmt.Errorf("unexpected reply %v", res)
	}
	if err != nil {
		if pending != 0 && code != saveGone {
			s.incr[key] += pending
		}
		return 0, fmt.Errorf("session: incr %q: %w", key, err)
	}
	if _, put := s.dirty[key]; put || s.clear || s.id != id {
		return n, nil // changed meanwhile by another goroutine: its value wins
	}
	if _, removed := s.removed[key]; removed {
		return n, nil
	}
	// Increments made meanwhile by other goroutines of this request stay
	// pending for the save; this request sees them on top.
	s.values[key] = strconv.FormatInt(n+s.incr[key], 10)
	return n, nil
}

// incrArgs are what IncrNow's Redis call needs.
type incrArgs struct {
	m     *Manager
	id    string
	key   string
	delta int64
	now   time.Time
}

// Has reports whether key holds a value.
func (s *Session) Has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.values[key]
	return ok
}

// Keys returns the keys holding values, sorted.
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.values))
}

// raw returns the JSON under key.
func (s *Session) raw(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[key]
	return v, ok
}

// Get decodes the value under key into a T. ok is false when the key holds
// nothing; err is not nil when its JSON does not decode into a T.
func Get[T any](s *Session, key string) (v T, ok bool, err error) {
	raw, ok := s.raw(key)
	if !ok {
		return v, false, nil
	}
	if decodeFast(raw, &v) {
		return v, true, nil
	}
	return decodeJSON[T]("get", key, raw)
}

// decodeJSON decodes raw, the value under key, into a T for op.
func decodeJSON[T any](op, key, raw string) (v T, ok bool, err error) {
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return v, true, fmt.Errorf("session: %s %q: %w", op, key, err)
	}
	return v, true, nil
}

// Pop is Get followed by Remove (a flash message, say). The key is removed
// even when its value does not decode.
func Pop[T any](s *Session, key string) (v T, ok bool, err error) {
	s.mu.Lock()
	raw, ok := s.values[key]
	if ok {
		s.remove(key)
	}
	s.mu.Unlock()
	if !ok {
		return v, false, nil
	}
	if decodeFast(raw, &v) {
		return v, true, nil
	}
	return decodeJSON[T]("pop", key, raw)
}

// ErrUserID is returned by Login for an empty or over-long user ID.
var ErrUserID = errors.New("session: user ID must be 1 to 512 bytes")

// Login records that the visitor authenticated as userID. When saved, the
// session gets a new ID (the old one is deleted in the same round trip, so
// a planted ID is worthless: session fixation), its absolute lifetime
// starts again, and it is indexed under the user for Sessions and
// DestroyUser. Values are kept.
func (s *Session) Login(userID string) error {
	if userID == "" || len(userID) > maxUserID {
		return ErrUserID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retire()
	s.user = userID
	s.login = true
	return nil
}

// retire schedules the stored ID, if any, for deletion at commit.
func (s *Session) retire() {
	if s.stored {
		s.deleteID, s.deleteUser = s.id, s.user
	}
	s.id, s.key, s.stored = "", "", false
	s.created, s.seen = time.Time{}, time.Time{}
}

// Destroy deletes the session: in Redis when saved, and in the browser by
// expiring the cookie. Values put after Destroy start a new session.
func (s *Session) Destroy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retire()
	s.values = map[string]string{}
	s.dirty, s.removed, s.incr, s.clear = nil, nil, nil, false
	s.user, s.login = "", false
	s.destroyed = true
}
