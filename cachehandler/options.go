package cachehandler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/redisware/redisware/middleware"
)

// Options configure a Cache. The zero value is ready to use; New fills the
// defaults into its own copy.
type Options struct {
	// Prefix starts every Redis key the cache writes. Empty means DefaultPrefix ("cache:").
	Prefix string

	// Name is the cache's identifier in Cache-Status (RFC 9211). Empty means
	// DefaultName ("redisware"). It must be a token: a letter, then letters, digits, '.',
	// '_' or '-'.
	Name string

	// MaxBodyBytes is the largest body stored. Larger responses stream to
	// the client unbuffered past this size and are not stored. Zero means
	// DefaultMaxBodyBytes (1 MiB); negative is an error.
	MaxBodyBytes int

	// Timeout bounds each Redis call a request or background refresh
	// makes. Zero means DefaultTimeout (250 ms). It holds for any client, whatever its own
	// timeouts; a go-redis client with ContextTimeoutEnabled stops its
	// network I/O at the deadline itself, which spares the cache a
	// goroutine per call.
	Timeout time.Duration

	// NoAutoPipeline sends each Redis command on its own instead of through
	// the client's autopipeliner. By default (false), when the client is a
	// *redis.Client or *redis.ClusterClient, the commands this package sends
	// one at a time on a request's path go through the client's deferred
	// autopipeliner (AsyncAutoPipeline, shared with the application and
	// closed with the client): concurrent requests' commands then share one
	// write and one read, which is what makes the package fast under load.
	// Order, read-your-writes, Timeout and the scripts' atomicity hold
	// either way; see the README's "Autopipelining".
	NoAutoPipeline bool

	// Breaker configures the circuit breaker in front of Redis: after
	// Breaker.Threshold consecutive failed calls, requests bypass the cache
	// at once, without calling Redis, until a probe finds it back (see
	// middleware.BreakerOptions). The zero value means every default: open
	// after 5 failures, probe after 10 ms, then at most every 50 ms.
	Breaker middleware.BreakerOptions

	// LockTTL is the expiry of the fill lock that lets one request across
	// all instances run the handler for a missing URL; it bounds how long a
	// crashed filler blocks others. Zero means DefaultLockTTL (10 s).
	LockTTL time.Duration

	// FillWait bounds how long a request waits for another request's fill
	// before it runs the handler itself. Zero means DefaultFillWait (5 s).
	FillWait time.Duration

	// KeepStale is how long an entry with a validator (ETag or
	// Last-Modified) stays in Redis after it goes stale, so it can be
	// revalidated with a 304 instead of refilled. Zero means
	// DefaultKeepStale (1 minute);
	// negative means entries are dropped once stale (plus any
	// stale-while-revalidate or stale-if-error window).
	KeepStale time.Duration

	// TargetedFields is the target list of RFC 9213: the names of the
	// targeted cache-control fields this cache obeys, most specific first.
	// The first of them that a response carries with a valid, non-empty
	// value (a Structured Fields dictionary) alone decides whether this
	// cache stores the response and for how long, and Cache-Control and
	// Expires are then ignored for this cache's decisions; a field that
	// does not parse is ignored entirely. Nil means
	// []string{DefaultTargetedField}, that is CDN-Cache-Control; an empty,
	// non-nil slice means none, so Cache-Control always decides. Each name
	// must be a valid field name other than Cache-Control.
	//
	// The fields, like Cache-Control and Expires, go downstream as the
	// handler set them, on misses and hits alike: RFC 9213 §3 lets a cache
	// remove CDN-Cache-Control only when it knows no cache downstream uses
	// it, and a cache in front of an application cannot know that a CDN
	// does not sit in front of it.
	TargetedFields []string

	// StaleGrace is how long an entry that was fresh when stored stays
	// in Redis after it goes stale, validator or not, so that it can
	// answer while the handler reports its origin unreachable (see
	// ReportUnreachable): up to StaleGrace (or the entry's stale-if-error,
	// if longer) past its freshness, unless must-revalidate,
	// proxy-revalidate, s-maxage or no-cache forbid serving it stale. Such
	// entries are not kept for the grace. Zero means DefaultStaleGrace (5
	// minutes): a restart or deploy of the origin, at the cost of keeping
	// every entry that long past its freshness; negative means no grace,
	// so an entry without a validator, stale-while-revalidate or
	// stale-if-error is gone once stale.
	StaleGrace time.Duration

	// Hosts pins the cache to the hosts the application serves, e.g.
	// []string{"example.com", "www.example.com", "localhost:8080"}. A
	// request whose host (lower case, without the scheme's default port)
	// is not listed is served by the handler uncached: nothing is read
	// from or written to Redis for it, and its response carries
	// "Cache-Status: <Name>; fwd=bypass; detail=unknown-host". An entry
	// names a port only when the app is reached on a non-default one
	// (":80" and ":443" are dropped). Empty (the default) caches whatever
	// host a request names: the key includes the Host header, so any
	// client that can send one creates entries at will. Set it (or
	// CanonicalHost) whenever anything in front of the application
	// forwards arbitrary Host headers, as most proxies and load balancers
	// do.
	Hosts []string

	// CanonicalHost, when set, decides in place of Hosts: it returns the
	// host a request is cached under, and false for a request the cache
	// must leave alone (served uncached, as an unlisted host is with
	// Hosts). Mapping several names to one ("www.example.com" to
	// "example.com") makes them share entries. Purge passes its URL
	// through it as a GET request carrying only the URL, its Host and,
	// for https, a non-nil TLS. Nil means Hosts decides; setting both is
	// an error.
	CanonicalHost func(r *http.Request) (host string, ok bool)

	// IgnoreClientNoCache makes the cache treat request "no-cache" and
	// "max-age=0" as absent, for routes that must shield the origin from
	// clients forcing a refill. False (the default) honours them.
	IgnoreClientNoCache bool

	// Now is the clock used for freshness, Age and staleness, and for the
	// breaker's cool-downs. Nil means time.Now.
	Now func() time.Time

	// Logger receives the cache's log lines: Redis failures when OnError
	// is nil, the breaker's lines (opened, still open every 10 s, closed),
	// and a warning at the start of each outage of the fill subscription.
	// Nil means slog.Default().
	Logger *slog.Logger

	// OnError observes every Redis failure and every corrupt entry (but
	// not the calls skipped while the circuit breaker is open after
	// consecutive failures: those bypass Redis silently, nor the calls of a
	// request whose client went away, which are no Redis failure); it
	// answers nothing. The cache never fails a request because of them: it
	// serves from the handler (or a stale copy) regardless. Nil means the
	// error is logged with Logger, with the request's method and path, at
	// Warn level, or at Debug level when the breaker's own lines report
	// it (any but the first of consecutive failures), so an outage is a
	// handful of lines.
	OnError func(ctx context.Context, err error)

	// Observer receives what the cache serves, stores, waits for and
	// purges, its Redis calls and breaker changes, for metrics and
	// traces. The zero value observes nothing and costs nothing.
	Observer Observer
}

// Defaults of Options, used where a field is zero.
const (
	DefaultPrefix       = "cache:"
	DefaultName         = "redisware"
	DefaultMaxBodyBytes = 1 << 20
	DefaultTimeout      = 250 * time.Millisecond
	DefaultLockTTL      = 10 * time.Second
	DefaultFillWait     = 5 * time.Second
	DefaultKeepStale    = time.Minute
	DefaultStaleGrace   = 5 * time.Minute

	// DefaultTargetedField is the target list when TargetedFields is nil.
	DefaultTargetedField = "CDN-Cache-Control"
)

// withDefaults returns a validated copy of o with defaults filled in.
func (o Options) withDefaults() (Options, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if !isToken(o.Name) {
		return o, fmt.Errorf("cachehandler: Name %q is not a token", o.Name)
	}
	switch {
	case o.MaxBodyBytes < 0:
		return o, errors.New("cachehandler: MaxBodyBytes is negative")
	case o.MaxBodyBytes == 0:
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	for _, d := range []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{
		{"Timeout", &o.Timeout, DefaultTimeout},
		{"LockTTL", &o.LockTTL, DefaultLockTTL},
		{"FillWait", &o.FillWait, DefaultFillWait},
	} {
		if *d.p < 0 {
			return o, fmt.Errorf("cachehandler: %s is negative", d.name)
		}
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	if o.LockTTL < time.Millisecond {
		return o, errors.New("cachehandler: LockTTL is under 1 ms")
	}
	switch {
	case o.KeepStale == 0:
		o.KeepStale = DefaultKeepStale
	case o.KeepStale < 0:
		o.KeepStale = 0
	}
	switch {
	case o.StaleGrace == 0:
		o.StaleGrace = DefaultStaleGrace
	case o.StaleGrace < 0:
		o.StaleGrace = 0
	}
	if o.TargetedFields == nil {
		o.TargetedFields = []string{DefaultTargetedField}
	}
	names := make([]string, len(o.TargetedFields)) // a copy: never the caller's
	for i, n := range o.TargetedFields {
		if !isFieldName(n) || strings.EqualFold(n, "Cache-Control") {
			return o, fmt.Errorf("cachehandler: TargetedFields: %q is not a targeted field name", n)
		}
		names[i] = textproto.CanonicalMIMEHeaderKey(n) // the key net/http files it under
	}
	o.TargetedFields = names
	if len(o.Hosts) > 0 {
		if o.CanonicalHost != nil {
			return o, errors.New("cachehandler: Hosts and CanonicalHost are both set")
		}
		f, err := hostsFunc(o.Hosts)
		if err != nil {
			return o, err
		}
		o.CanonicalHost = f
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

func isToken(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// isFieldName reports whether s is a field name: a token (RFC 9110 §5.1).
func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
