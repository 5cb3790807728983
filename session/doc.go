// Package session keeps per-visitor state in Redis behind a signed cookie,
// without losing updates: a request saves only the fields it changed, in
// one atomic script, so concurrent requests of one visitor never undo each
// other, and counters are incremented in Redis.
//
//	m, err := session.New(rdb, session.Options{Keys: [][]byte{hashKey, blockKey}})
//	if err != nil { ... }
//	mux.Handle("/", m.Middleware(app))
//
//	// in a handler:
//	s := session.FromContext(r.Context())
//	s.Put("cart", cart)
//	cart, ok, err := session.Get[Cart](s, "cart")
//	visits, _ := s.Incr("visits", 1)          // saved with the response; returns this request's estimate
//	ticket, err := s.IncrNow(ctx, "ticket", 1) // one round trip now; returns the value Redis holds
//	s.Login(userID)  // after checking the password: renews the ID
//	s.Destroy()      // log out
//
//	m.Sessions(ctx, userID)    // the user's devices
//	m.DestroyUser(ctx, userID) // log out everywhere
//
// # Cookie
//
// The cookie holds only the session ID (256 bits from crypto/rand),
// HMAC-SHA256-signed and, with a block key, AES-encrypted by
// gorilla/securecookie. Options.Keys takes several key pairs for rotation:
// the first pair signs, every pair verifies. A cookie that fails to verify
// costs no Redis call and yields a new, empty session. An ID that verifies
// but is not in Redis is never adopted: a new one is issued when the
// session is first written. The Manager remembers up to 8,192 cookie values
// that verified (an LRU, about 400 bytes each), so a returning visitor's
// cookie is verified once per process, not per request; a remembered
// cookie's signed timestamp is still checked on every request, so cookies
// expire exactly as securecookie's MaxAge has it (Lifetime plus a minute).
//
// Cookie defaults: name "session", Path=/, HttpOnly, Secure, SameSite=Lax,
// host-only, Max-Age = Lifetime. A "__Host-" name is supported (and
// checked: Secure, Path=/, no Domain). Set Options.Insecure only for
// development over plain http. The cookie is only set when the ID changes
// (a new session, Login) or the session ends (Destroy). Such responses get
// Cache-Control: no-cache="Set-Cookie" added, unless they are no-store or
// private already, so a shared cache never hands one visitor's cookie to
// another. Every response gets Vary: Cookie: the middleware cannot tell
// whether the handler's output depends on the session, so it assumes so.
//
// # Saving
//
// The middleware saves right before the first byte of the response, so the
// cookie can still be set; changes made after that are saved when the
// handler returns, unless they need a new cookie, which is reported to
// Options.ErrorHandler (wrapping ErrHeadersWritten). Flush and Hijack work
// through the middleware: streaming (Server-Sent Events) handlers work; a
// hijacked connection counts as headers sent.
//
// A save happens only when something changed. Its script writes only the
// changed and removed fields, applies Incr with HINCRBY, and refuses to
// write a session that no longer exists, so a slow request cannot
// resurrect a session another request destroyed (nor does it expire the
// cookie, which a concurrent Login may just have replaced). When an
// increment fails (the field holds a non-integer, or the sum overflows)
// the save writes nothing and the ErrorHandler answers.
//
// Incr and IncrNow both add in Redis, so no concurrent increment is lost;
// they differ in the number they return. Incr's is this request's
// estimate (the value it loaded plus its own increments), free, but under
// concurrency not what Redis holds: 200 requests that load a counter at 0
// together all see 1, and Redis holds 200. IncrNow applies the increment
// at once, in a script of its own (one round trip), and returns the
// stored sum: those 200 requests see 1 to 200, once each.
//
// # Expiry
//
// A session ends after IdleTimeout (default 24 h) without use, or
// Lifetime (default 7 days) after its creation or last Login, whichever
// comes first: Redis expires the key with PEXPIREAT at min(now+IdleTimeout,
// created+Lifetime), and the scripts check both limits too. A read-only
// request refreshes the idle expiry only when a quarter of IdleTimeout has
// passed since the last refresh, inside the load script, so it always
// costs exactly one round trip; the key then lives at least three quarters
// of IdleTimeout past any request (precision: a quarter of IdleTimeout,
// early, never late). While this process knows the last refresh to be
// more recent than that, the load is a plain HGETALL, one command in Redis
// rather than a script; the Manager remembers the last refresh of up to
// 16,384 sessions (an LRU), and a session it does not remember is loaded by
// the script.
//
// Time is the application's clock (Options.Now), passed to the scripts;
// they never read Redis' TIME. One clock thus decides expiry and the times
// Sessions lists, and the behaviour is testable on any server. Redis
// applies the PEXPIREAT instants by its own clock, so instances and Redis
// must keep their clocks in sync (NTP): a skew of s shifts expiry by s.
//
// # Round trips
//
//	no cookie, or a cookie that does not verify      0
//	valid cookie, values only read                   1 (HGETALL, or the load script)
//	values changed                                   2 (load, save script)
//	IncrNow                                          +1 each (none for a new session)
//	Login or Destroy                                 load + 1 pipeline
//	Sessions                                         2, 3 when it prunes
//	DestroyUser                                      2
//
// A Manager sends each script whole (EVAL) the first time it runs it,
// still one round trip, and by its digest (EVALSHA) after that; a server
// that lost a script (a flushed cache, a Cluster shard that has not seen
// it yet) costs one more round trip, once. Manager.Preload loads them all
// ahead of the first request.
//
// # Failures
//
// Sessions fail closed. When Redis is down, slow (Options.Timeout, default
// 1 s, bounds every call, whatever the client's own timeouts) or the
// circuit breaker is open after repeated failures (Options.Breaker, see
// middleware.BreakerOptions), Options.ErrorHandler answers instead of the
// handler; its default answers 503 and logs with slog: the first failure
// of an outage at Error level, the rest at Debug, as the breaker logs the
// outage itself (opened, still open every 10 s, closed with the requests
// it refused). A probe finds Redis back within about 50 ms. If the save
// before the first byte fails, the handler's response is replaced by the
// ErrorHandler's. A request whose client went away before its session was
// loaded is answered nothing and logged at Debug. Data in Redis that is
// not a session (another type, missing metadata) is a miss plus a log
// line.
//
// # Observing
//
// Options.Observer hears each request's load (new, found, not-found,
// corrupt, failed) and save (stored, gone, dropped, failed; whether it
// created, logged in or destroyed), each Redis call and each change of the
// circuit breaker, for metrics and traces; the otel module turns them into
// OpenTelemetry. Unset, it costs nothing. It never sees an ID, a user or a
// value.
//
// # Redis keys
//
// With the default Options.Prefix "session:":
//
//	session:<id>        hash  one field "v:<key>" per value (JSON; Incr
//	                          keeps integers), and metadata "m:created",
//	                          "m:seen" (Unix ms), "m:user", "m:op" (nonce of
//	                          the last save, so a save the client resends
//	                          after a lost reply applies once); user keys
//	                          cannot collide with metadata. Expires at
//	                          min(last use + IdleTimeout, created + Lifetime).
//	session:user:<uid>  set   IDs of the user's sessions, written by Login;
//	                          expires Lifetime after the latest Login. <uid>
//	                          is the user ID when short and plain, else a hash.
//
// <id> is 43 characters of base64url.
//
// # Redis Cluster
//
// Every script touches one key, so the package runs on Redis Cluster. Login
// touches three keys in different slots (the new session, the old one, the
// user's set): it sends single-key commands in one pipeline rather than one
// script, in the order index, create, delete old (a cluster client may run
// them on their nodes in any order). The new cookie is sent only when every
// command succeeded, so a session a browser holds is always indexed; after
// a partial failure the request gets the ErrorHandler's answer and no
// cookie; the old session may be deleted already (the visitor goes on as
// after a logout), and what is left behind is unreachable (a new session
// nobody holds the cookie of, expiring after IdleTimeout; an indexed ID
// that Sessions prunes, in a set that expires) and never adopted. DestroyUser deletes key by key
// in one pipeline and removes only the IDs it read from the set, so a
// concurrent Login stays indexed.
package session
