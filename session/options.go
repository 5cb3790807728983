package session

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/redisware/redisware/internal/breaker"
	"github.com/redisware/redisware/middleware"
)

// Defaults of Options.
const (
	// DefaultCookieName names the cookie when Options.CookieName is empty.
	DefaultCookieName = "session"
	// DefaultPath is the cookie's Path when Options.Path is empty.
	DefaultPath = "/"
	// DefaultSameSite is the cookie's SameSite when Options.SameSite is zero.
	DefaultSameSite = http.SameSiteLaxMode
	// DefaultIdleTimeout ends an unused session when Options.IdleTimeout is
	// zero.
	DefaultIdleTimeout = 24 * time.Hour
	// DefaultLifetime ends every session when Options.Lifetime is zero.
	DefaultLifetime = 7 * 24 * time.Hour
	// DefaultPrefix starts every key when Options.Prefix is empty.
	DefaultPrefix = "session:"
	// DefaultTimeout bounds each Redis call when Options.Timeout is zero.
	DefaultTimeout = time.Second
)

// hostPrefix is the cookie name prefix browsers only accept on a Secure,
// host-only cookie with Path=/ (RFC 6265bis, "__Host-").
const hostPrefix = "__Host-"

// Options configure a Manager. The zero value of every field means its
// documented default; only Keys is required.
type Options struct {
	// Keys are securecookie key pairs: a hash key (HMAC-SHA256, at least 32
	// bytes) followed by a block key (AES: 16, 24 or 32 bytes, or nil for a
	// signed but unencrypted cookie), then optionally older pairs. The first
	// pair signs new cookies; every pair is tried when reading one, so a key
	// is rotated by putting the new pair first and dropping the old pair
	// once its cookies have expired (after Lifetime). Required: New fails
	// when it is empty.
	Keys [][]byte

	// CookieName is the cookie's name. Empty means DefaultCookieName
	// ("session"). A name that
	// starts with "__Host-" requires Secure (Insecure false), Path "/" and
	// no Domain, as browsers do; New checks it.
	CookieName string
	// Path is the cookie's Path. Empty means DefaultPath ("/").
	Path string
	// Domain is the cookie's Domain. Empty means a host-only cookie.
	Domain string
	// Insecure drops the Secure attribute, for development over plain
	// http. False (the default) means the cookie is sent over HTTPS only.
	Insecure bool
	// SameSite is the cookie's SameSite attribute. Zero means
	// DefaultSameSite (http.SameSiteLaxMode); a value that is not one of
	// http.SameSite's constants is an error.
	SameSite http.SameSite
	// BrowserSession makes the cookie a browser-session cookie (no
	// Max-Age) that the browser drops when it closes. False (the default)
	// gives the cookie Max-Age = Lifetime.
	// The cookie is always HttpOnly.
	BrowserSession bool

	// IdleTimeout ends a session nobody used for that long. Zero means
	// DefaultIdleTimeout (24 h); below a millisecond (negative included) is
	// an error. Read-only requests refresh it at most once per quarter of
	// it.
	IdleTimeout time.Duration
	// Lifetime is the absolute lifetime of a session, counted from its
	// creation or its last Login, however active it is. Zero means
	// DefaultLifetime (7 days). Must not be shorter than IdleTimeout.
	Lifetime time.Duration

	// Prefix starts every Redis key the Manager writes. Empty means
	// DefaultPrefix ("session:").
	Prefix string
	// Timeout bounds each Redis round trip. Zero means DefaultTimeout
	// (1 s); negative is an error. It holds for any client, whatever its own timeouts; a go-redis client with
	// ContextTimeoutEnabled stops its network I/O at the deadline itself,
	// which spares the Manager a goroutine per call.
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
	// Breaker.Threshold consecutive failed calls, requests fail closed at
	// once, without calling Redis, until a probe finds it back (see
	// middleware.BreakerOptions). The zero value means every default: open
	// after 5 failures, probe after 10 ms, then at most every 50 ms.
	Breaker middleware.BreakerOptions

	// ErrorHandler answers a request when the session cannot be loaded or
	// saved (Redis down or slow, the breaker open). Sessions fail closed: the
	// handler is not run, or its response is replaced when the save before
	// its first byte fails. When err wraps ErrHeadersWritten the response
	// has already started and w must not be written. A request whose client
	// went away before its session was loaded is not handed to it: nobody
	// is there to answer, and it is logged at Debug level only. Nil means:
	// answer 503 Service Unavailable and log the error with Logger, at
	// Error level, or at Debug level when the breaker's own lines report it
	// (a request refused while the breaker is open, or any but the first of
	// consecutive failures), so an outage is a handful of lines, not one
	// per request.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Logger receives errors, corrupt-data notices and the breaker's
	// lines (opened, still open every 10 s, closed). Nil means
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock every expiry is computed with; its time is passed to
	// the Lua scripts, which never read Redis' TIME. Nil means time.Now.
	// Expiries are set as instants (PEXPIREAT) that Redis applies by its
	// own clock, so the clocks of every instance and of Redis must agree
	// (NTP): a skew of s moves expiry by s, and a skew beyond IdleTimeout
	// expires sessions at once. The cookie's signed timestamp is checked
	// with time.Now by securecookie, not with Now. The breaker times its
	// cool-downs with Now too.
	Now func() time.Time
	// Observer receives the Manager's loads, saves, Redis calls and
	// breaker changes, for metrics and traces. The zero value observes
	// nothing and costs nothing.
	Observer Observer
}

// ErrHeadersWritten is wrapped by errors that happen after the response's
// headers were sent, so they can only be logged.
var ErrHeadersWritten = errors.New("session: response headers already written")

// withDefaults returns a validated copy of o with every default filled in.
func (o Options) withDefaults() (Options, error) {
	if len(o.Keys) == 0 {
		return o, errors.New("session: Options.Keys is empty; give at least one 32-byte hash key")
	}
	for i := 0; i < len(o.Keys); i += 2 {
		if len(o.Keys[i]) < 32 {
			return o, fmt.Errorf("session: Options.Keys[%d] (a hash key) has %d bytes, want at least 32", i, len(o.Keys[i]))
		}
		if i+1 < len(o.Keys) {
			switch n := len(o.Keys[i+1]); n {
			case 0, 16, 24, 32:
			default:
				return o, fmt.Errorf("session: Options.Keys[%d] (a block key) has %d bytes, want 16, 24 or 32 (or nil)", i+1, n)
			}
		}
	}
	ks := make([][]byte, len(o.Keys))
	for i, k := range o.Keys {
		ks[i] = append([]byte(nil), k...) // the caller may reuse its buffers
	}
	o.Keys = ks
	if o.CookieName == "" {
		o.CookieName = DefaultCookieName
	}
	if !validCookieName(o.CookieName) {
		return o, fmt.Errorf("session: Options.CookieName %q is not a valid cookie name", o.CookieName)
	}
	if o.Path == "" {
		o.Path = DefaultPath
	}
	for i := 0; i < len(o.Path); i++ {
		if c := o.Path[i]; c < 0x20 || c >= 0x7f || c == ';' {
			return o, fmt.Errorf("session: Options.Path %q is not a valid cookie path", o.Path)
		}
	}
	// net/http drops an invalid Domain when writing the cookie, which
	// would silently make it host-only.
	if o.Domain != "" && !strings.Contains((&http.Cookie{Name: "n", Domain: o.Domain}).String(), "; Domain=") {
		return o, fmt.Errorf("session: Options.Domain %q is not a valid cookie domain", o.Domain)
	}
	if strings.HasPrefix(o.CookieName, hostPrefix) && (o.Insecure || o.Path != "/" || o.Domain != "") {
		return o, fmt.Errorf("session: a %s cookie needs Secure, Path=/ and no Domain", hostPrefix)
	}
	switch o.SameSite {
	case 0:
		o.SameSite = DefaultSameSite
	case http.SameSiteDefaultMode, http.SameSiteLaxMode, http.SameSiteStrictMode, http.SameSiteNoneMode:
	default:
		return o, fmt.Errorf("session: Options.SameSite %d is not an http.SameSite constant", o.SameSite)
	}
	if o.SameSite == http.SameSiteNoneMode && o.Insecure {
		return o, errors.New("session: SameSite=None needs a Secure cookie")
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Lifetime == 0 {
		o.Lifetime = DefaultLifetime
	}
	if o.IdleTimeout < time.Millisecond || o.Lifetime < time.Millisecond {
		return o, errors.New("session: Options.IdleTimeout and Lifetime must be at least a millisecond")
	}
	if o.Lifetime < o.IdleTimeout {
		return o, fmt.Errorf("session: Lifetime %v is shorter than IdleTimeout %v", o.Lifetime, o.IdleTimeout)
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Timeout < 0 {
		return o, errors.New("session: Options.Timeout must not be negative")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ErrorHandler == nil {
		o.ErrorHandler = defaultErrorHandler(o.Logger)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// validCookieName reports whether name is an RFC 6265 token.
func validCookieName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return name != ""
}

func defaultErrorHandler(log *slog.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		level := slog.LevelError
		if breaker.Quiet(err) {
			level = slog.LevelDebug // the breaker's lines report the outage
		}
		log.Log(r.Context(), level, "session unavailable", "err", err, "method", r.Method, "path", r.URL.Path)
		if errors.Is(err, ErrHeadersWritten) {
			return
		}
		w.Header().Set("Retry-After", "1")
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
	}
}
