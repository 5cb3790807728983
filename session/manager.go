package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/internal/keys"
	"github.com/redisware/redisware/internal/observe"
	"github.com/redisware/redisware/internal/pipe"
	"github.com/redisware/redisware/internal/script"
)

// Manager loads and saves sessions. It is safe for concurrent use; make
// one per application and share it.
type Manager struct {
	rdb     redis.UniversalClient
	o       Options
	codec   *codec
	guard   bounded.Guard  // breaker and Options.Timeout around every call
	send    pipe.Sender    // one command at a time, autopipelined
	scripts *script.Runner // runs the Lua scripts on rdb
	seen    *seenHints     // when sessions' idle expiry was last moved, as last seen here

	// Script arguments that never change, formatted (and put in an
	// interface, which allocates) once.
	idleArg, lifetimeArg, touchArg any
	touchAfter                     time.Duration
}

// New returns a Manager storing sessions in rdb. It fails when rdb is nil
// or o is invalid: no Keys, a hash key shorter than 32 bytes, a block key
// that is not an AES key size, an invalid cookie name, path or domain, a
// "__Host-" cookie that is not Secure with Path=/ and no Domain,
// Lifetime shorter than IdleTimeout, or invalid Breaker settings.
func New(rdb redis.UniversalClient, o Options) (*Manager, error) {
	if rdb == nil {
		return nil, errors.New("session: nil Redis client")
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	c, err := newCodec(o.CookieName, o.Keys, o.Lifetime)
	if err != nil {
		return nil, err
	}
	guard, err := observe.NewGuard(rdb, observe.GuardOptions{Name: "session", Breaker: o.Breaker, Timeout: o.Timeout,
		Logger: o.Logger, Now: o.Now, OnCall: o.Observer.OnRedisCall, OnBreaker: o.Observer.OnBreaker})
	if err != nil {
		return nil, err
	}
	send, err := pipe.New(rdb, o.NoAutoPipeline)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	m := &Manager{rdb: rdb, o: o, codec: c, guard: guard, send: send, scripts: script.NewRunner(send), seen: newSeenHints(seenHintsSize)}
	m.touchAfter = o.IdleTimeout / 4
	m.idleArg, m.lifetimeArg, m.touchArg = msd(o.IdleTimeout), msd(o.Lifetime), msd(m.touchAfter)
	return m, nil
}

// key is the Redis key of a session ID. IDs are base64url and never contain
// ':', so they cannot collide with the "user:" keys.
func (m *Manager) key(id string) string { return m.o.Prefix + id }

// userKey is the Redis set of a user's session IDs.
func (m *Manager) userKey(uid string) string { return m.o.Prefix + "user:" + keys.Safe(uid) }

// ms is t as a script argument: Unix ms, which go-redis sends in decimal.
func ms(t time.Time) int64       { return t.UnixMilli() }
func msd(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
func fromMS(s string) (time.Time, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

// call makes one Redis call, fn(ctx, arg), reported as op to the
// Observer, through the breaker and bounded by Options.Timeout whatever
// the client (see bounded.Call: fn returns its results, and takes what it
// needs from arg so that it allocates nothing).
func call[A, T any](ctx context.Context, m *Manager, op string, fn func(context.Context, A) (T, error), arg A) (T, error) {
	return bounded.Guarded(ctx, &m.guard, op, fn, arg)
}

// do is call for a function that returns only an error.
func do[A any](ctx context.Context, m *Manager, op string, fn func(context.Context, A) error, arg A) error {
	return bounded.GuardedDo(ctx, &m.guard, op, fn, arg)
}

// load returns the request's session and what it found: a new empty one
// when the request has no valid cookie (no Redis call) or its ID is
// unknown or expired (strict: an unknown ID is never adopted), the stored
// one otherwise (one round trip). It fails only when Redis does.
//
// The round trip is one HGETALL when this process saw the session's idle
// expiry moved less than a quarter of IdleTimeout ago (see seenHints), and
// the load script otherwise, which moves it when that much time has passed.
// Both check the idle and absolute deadlines by the application's clock.
func (m *Manager) load(r *http.Request) (*Session, LoadOutcome, error) {
	s := newSession(m)
	id, ok := m.codec.fromRequest(r)
	if !ok {
		return s, LoadNew, nil
	}
	s.hadCookie = true
	now := m.o.Now()
	plain := false
	if seen, ok := m.seen.get(id); ok && now.Sub(seen) < m.touchAfter {
		plain = true
	}
	key := m.key(id)
	rep, err := call(r.Context(), m, "load", func(ctx context.Context, a loadArgs) (loadReply, error) {
		m := a.m
		if a.plain {
			h, err := m.send.HGetAll(ctx, a.key)
			return loadReply{m: h}, err
		}
		h, err := m.scripts.Run(ctx, loadScript, []string{a.key},
			ms(a.now), m.idleArg, m.lifetimeArg, m.touchArg).StringSlice()
		if errors.Is(err, redis.Nil) {
			return loadReply{}, nil
		}
		return loadReply{h: h}, err
	}, loadArgs{m, key, now, plain})
	if err != nil {
		if wrongType(err) {
			m.o.Logger.WarnContext(r.Context(), "session: foreign data under a session key; starting a new session", "err", err)
			return s, LoadCorrupt, nil
		}
		return nil, LoadFailed, fmt.Errorf("session: load: %w", err)
	}
	if len(rep.h) == 0 && len(rep.m) == 0 {
		m.seen.remove(id)
		return s, LoadNotFound, nil
	}
	var filled bool
	if rep.m != nil {
		filled = s.fillMap(id, rep.m)
	} else {
		filled = s.fill(id, rep.h)
	}
	if !filled {
		m.seen.remove(id)
		m.o.Logger.WarnContext(r.Context(), "session: corrupt session hash; starting a new session")
		return newSession(m).withCookie(), LoadCorrupt, nil
	}
	if !now.Before(s.created.Add(m.o.Lifetime)) || !now.Before(s.seen.Add(m.o.IdleTimeout)) {
		// Expired by our clock (the script says so for the other path):
		// Redis drops the key at its PEXPIREAT by its own clock.
		m.seen.remove(id)
		return newSession(m).withCookie(), LoadNotFound, nil
	}
	if !plain && now.Sub(s.seen) >= m.touchAfter {
		// The script moved the idle expiry just now.
		s.seen = time.UnixMilli(now.UnixMilli())
	}
	s.key = key
	m.seen.put(id, s.seen)
	return s, LoadFound, nil
}

// loadArgs are what load's Redis call needs.
type loadArgs struct {
	m     *Manager
	key   string
	now   time.Time
	plain bool // HGETALL rather than the load script
}

// loadReply is the session hash: h from the load script, m from HGETALL.
type loadReply struct {
	h []string
	m map[string]string
}

func (s *Session) withCookie() *Session { s.hadCookie = true; return s }

// wrongType reports whether err is Redis refusing an operation on a key of
// another type: foreign data, a miss rather than an outage.
func wrongType(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.Contains(re.Error(), "WRONGTYPE")
}

// fill sets s from the load script's HGETALL reply; it reports false when
// the metadata is missing or malformed.
func (s *Session) fill(id string, h []string) bool {
	var okC, okS bool
	for i := 0; i+1 < len(h); i += 2 {
		s.fillField(h[i], h[i+1], &okC, &okS)
	}
	if !okC || !okS {
		return false
	}
	s.id, s.stored = id, true
	return true
}

// fillMap is fill for an HGETALL reply read as a map.
func (s *Session) fillMap(id string, h map[string]string) bool {
	var okC, okS bool
	for f, v := range h {
		s.fillField(f, v, &okC, &okS)
	}
	if !okC || !okS {
		return false
	}
	s.id, s.stored = id, true
	return true
}

func (s *Session) fillField(f, v string, okC, okS *bool) {
	switch {
	case strings.HasPrefix(f, valuePrefix):
		s.values[f[len(valuePrefix):]] = v
	case f == fieldCreated:
		s.created, *okC = fromMS(v)
	case f == fieldSeen:
		s.seen, *okS = fromMS(v)
	case f == fieldUser:
		s.user = v
	}
}

// exec runs ops in one round trip (a pipeline of single-key commands, so it
// works on Redis Cluster), plus one more for the scripts Redis did not have
// cached (see script.Runner.Exec). Each op's Cmd holds its reply once exec returns
// nil; after an error they must not be read, as a call given up at the
// timeout may still be writing them.
func (m *Manager) exec(ctx context.Context, ops []script.Op) error {
	return do(ctx, m, "save", func(ctx context.Context, a execArgs) error {
		return a.m.scripts.Exec(ctx, a.ops)
	}, execArgs{m, ops})
}

// execArgs are what exec's Redis call needs.
type execArgs struct {
	m   *Manager
	ops []script.Op
}

// commit saves s. With open, the response headers are still unsent: h gets
// the cookie, if one is needed. Without, a change that needs a new cookie (a
// new session, a Login) is dropped and reported with ErrHeadersWritten.
// ctx is the request's: its values reach Redis calls and the Observer, its
// cancellation does not, as a client that hangs up must not lose a change
// its request made.
func (m *Manager) commit(ctx context.Context, s *Session, h http.Header, open bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	create := !s.stored && (len(s.values) > 0 || s.login)
	update := s.stored && (len(s.dirty) > 0 || len(s.removed) > 0 || len(s.incr) > 0 || s.clear)
	var late error
	if create && !open {
		late = fmt.Errorf("%w: changes to a new or renewed session need a cookie; they were not saved", ErrHeadersWritten)
		create = false
	}
	del := s.deleteID != "" && (create || s.destroyed)
	ev := SaveEvent{Created: create, Login: create && s.login, Destroyed: del && s.destroyed}
	if create || update || del || late != nil {
		// Only then is ctx used: most requests change nothing.
		ctx = context.WithoutCancel(ctx)
	}

	var now time.Time
	if create || update {
		now = m.o.Now()
	}
	// At most: index, save, delete the old ID, unindex it. Allocated only
	// when there is something to send: most requests change nothing.
	var ops []script.Op
	if create || update || del {
		ops = make([]script.Op, 0, 4)
	}
	save := -1 // index of the save in ops
	// The keys of the increments; the usual few fit on the stack.
	var incrBuf [4]string
	var incrKeys []string
	var id, key, cookie string
	if create {
		id = newID()
		raw, _ := rawID(id)
		var err error
		if cookie, err = m.codec.encode(raw); err != nil {
			return err
		}
		if s.login {
			ops = append(ops, script.Op{Script: indexScript, Keys: []string{m.userKey(s.user)}, Args: []any{id, msd(m.o.Lifetime)}})
		}
		save = len(ops)
		key = m.key(id)
		op, _ := m.saveOp(key, now, s, true, nil)
		ops = append(ops, op)
	} else if update {
		save = len(ops)
		var op script.Op
		op, incrKeys = m.saveOp(s.key, now, s, false, incrBuf[:0])
		ops = append(ops, op)
	}
	if del {
		k := m.key(s.deleteID)
		ops = append(ops, script.Op{Plain: func(ctx context.Context, p redis.Pipeliner) redis.Cmder { return p.Del(ctx, k) }})
		if s.deleteUser != "" {
			uk, old := m.userKey(s.deleteUser), s.deleteID
			ops = append(ops, script.Op{Plain: func(ctx context.Context, p redis.Pipeliner) redis.Cmder { return p.SRem(ctx, uk, old) }})
		}
	}
	if len(ops) > 0 {
		if err := m.exec(ctx, ops); err != nil {
			err = fmt.Errorf("session: save: %w", err)
			m.saved(ctx, ev, SaveFailed, err)
			return err
		}
	}
	if save >= 0 {
		res, err := ops[save].Cmd.(*redis.Cmd).Slice()
		if err != nil || len(res) == 0 {
			err = fmt.Errorf("session: save: unexpected reply %v: %v", res, err)
			m.saved(ctx, ev, SaveFailed, err)
			return err
		}
		code, _ := res[0].(int64)
		switch code {
		case saveOK:
			for i, k := range incrKeys {
				if i+1 < len(res) {
					if n, ok := res[i+1].(int64); ok {
						s.values[k] = strconv.FormatInt(n, 10)
					}
				}
			}
		case saveGone:
			// Destroyed, renewed by a Login or expired meanwhile: do not
			// resurrect it. Nor expire the cookie: the request that renewed
			// the ID may have set a new one that this response would
			// delete, logging the visitor out. A cookie naming a gone
			// session is harmless (strict mode) and replaced on the next
			// write.
			s.id, s.key, s.stored, s.user = "", "", false, ""
			s.values = map[string]string{}
			ev.Outcome = SaveGone
		case saveNotInt:
			var f string
			if len(res) > 1 {
				f, _ = res[1].(string)
			}
			err := fmt.Errorf("session: save: Incr of %q: the stored value is not an integer, or the sum overflows", strings.TrimPrefix(f, valuePrefix))
			m.saved(ctx, ev, SaveFailed, err)
			return err
		default:
			err := fmt.Errorf("session: save: unexpected reply %v", res)
			m.saved(ctx, ev, SaveFailed, err)
			return err
		}
	}
	if create {
		s.id, s.key, s.stored, s.created, s.seen = id, key, true, now, now
		m.setCookie(h, cookie, m.o.Lifetime)
	} else if s.destroyed && open && s.hadCookie {
		m.expireCookie(h)
	}
	if del || open {
		s.deleteID, s.deleteUser, s.destroyed = "", "", false
	}
	s.dirty, s.removed, s.incr, s.clear = nil, nil, nil, false
	if open {
		s.login = false
	}
	switch {
	case late != nil:
		m.saved(ctx, ev, SaveDropped, late)
	case len(ops) > 0:
		m.saved(ctx, ev, ev.Outcome, nil) // SaveStored, or SaveGone
	}
	return late
}

// saveOp builds the saveScript call for s, stored under key. A create
// writes every value (no other request knows the new ID, so there is
// nothing to merge with); an update writes only what this request changed.
// It returns the keys of the increments in the order the script answers
// their sums, in incrKeys' room (incrKeys must be empty).
func (m *Manager) saveOp(key string, now time.Time, s *Session, create bool, incrKeys []string) (script.Op, []string) {
	// Constants in interfaces, which allocates nothing (a variable would).
	var mode, clear any = "u", "0"
	if create {
		mode = "c"
	} else if s.clear {
		clear = "1"
	}
	user := ""
	if s.login {
		user = s.user
	}
	var nset, ndel, nincr int
	if create {
		nset = len(s.values)
	} else {
		nset, ndel, nincr = len(s.dirty), len(s.removed), len(s.incr)
	}
	args := make([]any, 0, 11+2*nset+ndel+2*nincr)
	args = append(args, ms(now), m.idleArg, m.lifetimeArg, mode, user, clear,
		nset, ndel, nincr, newNonce(), m.touchArg)
	if create {
		for k, v := range s.values {
			args = append(args, valuePrefix+k, v)
		}
	} else {
		for k := range s.dirty {
			args = append(args, valuePrefix+k, s.values[k])
		}
		for k := range s.removed {
			args = append(args, valuePrefix+k)
		}
		if nincr > 0 {
			for k := range s.incr {
				incrKeys = append(incrKeys, k)
			}
			// Sorted, so a failed save undoes the same increments whatever
			// the map's order (its tests rely on that); one key needs none.
			if nincr > 1 {
				slices.Sort(incrKeys)
			}
		}
		for _, k := range incrKeys {
			args = append(args, valuePrefix+k, s.incr[k]) // sent in decimal
		}
	}
	return script.Op{Script: saveScript, Keys: []string{key}, Args: args}, incrKeys
}

func (m *Manager) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     m.o.CookieName,
		Value:    value,
		Path:     m.o.Path,
		Domain:   m.o.Domain,
		MaxAge:   maxAge,
		Secure:   !m.o.Insecure,
		HttpOnly: true,
		SameSite: m.o.SameSite,
	}
}

func (m *Manager) setCookie(h http.Header, value string, life time.Duration) {
	maxAge := 0
	if !m.o.BrowserSession {
		maxAge = int(life / time.Second)
	}
	h.Add("Set-Cookie", m.cookie(value, maxAge).String())
	noCacheCookie(h)
}

func (m *Manager) expireCookie(h http.Header) {
	h.Add("Set-Cookie", m.cookie("", -1).String())
	noCacheCookie(h)
}

// noCacheCookie keeps shared caches from replaying the session cookie to
// other visitors. A response that forbids storing (no-store) or sharing
// (private) needs nothing more; any other gets no-cache="Set-Cookie" (RFC
// 9111, section 5.2.2.4) added to what the handler set, so a handler's
// "public, max-age=60" cannot hand a new session's cookie to every visitor
// a shared cache serves.
func noCacheCookie(h http.Header) {
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			if d = strings.TrimSpace(d); strings.EqualFold(d, "no-store") || strings.EqualFold(d, "private") {
				return
			}
		}
	}
	h.Add("Cache-Control", `no-cache="Set-Cookie"`)
}

// Preload loads the package's Lua scripts into Redis' script cache (on
// every shard of a Cluster), so no request pays for sending a script whole.
// It is optional: without it each script is sent whole (EVAL) the first
// time a server runs it, and costs one extra round trip on a server that
// lost it (a flushed cache, a Cluster shard that has not seen it yet).
func (m *Manager) Preload(ctx context.Context) error {
	err := do(ctx, m, "preload", func(ctx context.Context, r *script.Runner) error {
		return r.Load(ctx, loadScript, saveScript, indexScript, incrScript)
	}, m.scripts)
	if err != nil {
		return fmt.Errorf("session: preload: %w", err)
	}
	return nil
}
