package session

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/internal/httpwrap"
)

// Middleware loads the request's session before next runs (FromContext
// returns it) and saves it right before the response's first byte, setting
// the cookie when the session is new, renewed or destroyed. Changes made
// after that are saved when next returns, unless they need a new cookie
// (those are reported to Options.ErrorHandler wrapped in
// ErrHeadersWritten). Flush, Hijack and the other http.ResponseController
// features keep working through it; after a Hijack the session is saved as
// after the headers, since the handler's own response carries no cookie.
//
// When Redis fails (or the breaker is open) the session fails closed:
// Options.ErrorHandler answers instead of next, or replaces next's response
// if the save before the first byte fails. A request whose client went
// away before its session was loaded is answered nothing.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, outcome, err := m.load(r)
		if m.o.Observer.OnLoad != nil {
			m.o.Observer.OnLoad(r.Context(), LoadEvent{Outcome: outcome, Err: err})
		}
		if err != nil {
			if bounded.Gone(r.Context()) {
				// The client hung up: nobody to answer, no news of Redis.
				m.o.Logger.DebugContext(r.Context(), "session: client gone before its session was loaded", "err", err)
				return
			}
			m.o.ErrorHandler(w, r, err)
			return
		}
		c := &committer{m: m, s: s, r: r}
		hw := httpwrap.New(w, httpwrap.Options{BeforeHeader: c.beforeHeader})
		c.hj = hijacker{Writer: hw, c: c}
		next.ServeHTTP(&c.hj, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
		if !hw.WroteHeader() && !c.hijacked {
			// next wrote nothing; net/http sends the header after we return.
			c.done = true
			addVary(w.Header(), "Cookie")
			if err := m.commit(r.Context(), s, w.Header(), true); err != nil {
				clear(w.Header())
				m.o.ErrorHandler(w, r, err)
			}
			return
		}
		if c.failed {
			return
		}
		if err := m.commit(r.Context(), s, nil, false); err != nil {
			if !errors.Is(err, ErrHeadersWritten) {
				err = fmt.Errorf("%w: %w", ErrHeadersWritten, err)
			}
			m.o.ErrorHandler(hw, r, err)
		}
	})
}

// committer saves a session right before the first byte of a response.
type committer struct {
	m *Manager
	s *Session
	r *http.Request // the request as the middleware got it

	hj       hijacker
	done     bool
	failed   bool
	hijacked bool // the handler took the connection: no cookie can be sent
}

// hijacker is the ResponseWriter handlers see: the httpwrap.Writer, plus a
// Hijack that notes the connection was taken, so the session is then saved
// as after the headers (a change that needs a cookie is reported, not
// silently dropped with a cookie nobody receives).
type hijacker struct {
	*httpwrap.Writer
	c *committer
}

// Hijack implements http.Hijacker through http.ResponseController, so it
// returns http.ErrNotSupported where the connection cannot be hijacked.
func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(h.Writer.Unwrap()).Hijack()
	if err == nil {
		h.c.hijacked = true
	}
	return conn, rw, err
}

func (c *committer) beforeHeader(w *httpwrap.Writer, _ int) {
	if c.done {
		return
	}
	c.done = true
	h := w.Header()
	addVary(h, "Cookie")
	if err := c.m.commit(c.r.Context(), c.s, h, true); err != nil {
		// Fail closed: the error handler answers in place of the handler,
		// whose status line and body from here on go nowhere.
		c.failed = true
		clear(h)
		c.m.o.ErrorHandler(w.Unwrap(), c.r, err)
		w.Discard(errReplaced)
	}
}

// addVary adds v to the Vary header unless it is there.
func addVary(h http.Header, v string) {
	for _, x := range h.Values("Vary") {
		if x == v || x == "*" {
			return
		}
	}
	h.Add("Vary", v)
}

// errReplaced is what a handler's writes return once its response was
// replaced by the ErrorHandler's.
var errReplaced = errors.New("session: response replaced: the session could not be saved")
