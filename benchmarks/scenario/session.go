package scenario

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"

	"github.com/redisware/redisware/session"
)

// sessionImpl is one session library as the session scenarios use it: a
// middleware, and reading, incrementing and setting the integer counter "n"
// of the request's session. incr and put save the session themselves when
// the library needs an explicit save.
type sessionImpl struct {
	mw   func(http.Handler) http.Handler
	get  func(w http.ResponseWriter, r *http.Request) (int64, error)
	incr func(w http.ResponseWriter, r *http.Request) (int64, error)
	put  func(w http.ResponseWriter, r *http.Request, n int64) error
}

// counterKey is the session value every scenario reads or increments.
const counterKey = "n"

// sessionKeys are the cookie keys of ours: a fixed hash key and AES-256
// block key (signed and encrypted, as the package documentation recommends).
var sessionKeys = [][]byte{bytes.Repeat([]byte("h"), 32), bytes.Repeat([]byte("b"), 32)}

func buildSession(ctx context.Context, env Env, s Scenario, impl string, b *Built) error {
	var si sessionImpl
	var err error
	switch impl {
	case ImplOurs, ImplOursDirect:
		si, err = oursSession(env, impl == ImplOursDirect)
	case ImplSCS:
		si = scsSession(env)
	case ImplGorilla:
		si, err = gorillaSession(ctx, env)
	default:
		return fmt.Errorf("no session store %q", impl)
	}
	if err != nil {
		return err
	}
	fail := func(w http.ResponseWriter, err error) {
		http.Error(w, "session: "+err.Error(), http.StatusInternalServerError)
	}
	if s.Kind == SessionRead {
		b.Handler = si.mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := si.get(w, r)
			if err != nil {
				fail(w, err)
				return
			}
			if n != ReadValue {
				b.Wrong.Add(1)
			}
			counterBody(w, n)
		}))
	} else {
		b.Handler = si.mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := si.incr(w, r)
			if err != nil {
				fail(w, err)
				return
			}
			counterBody(w, n)
		}))
	}
	b.Seed = si.mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		if err != nil {
			http.Error(w, "seed: ?n= must be an integer", http.StatusBadRequest)
			return
		}
		if err := si.put(w, r, n); err != nil {
			fail(w, err)
			return
		}
		counterBody(w, n)
	}))
	b.Value = si.mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := si.get(w, r)
		if err != nil {
			fail(w, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(strconv.AppendInt(nil, n, 10))
	}))
	return nil
}

func oursSession(env Env, direct bool) (sessionImpl, error) {
	m, err := session.New(env.RDB, session.Options{
		NoAutoPipeline: direct,
		// A save that did not apply while the run's sessions all live is a
		// lost write: say so in the server log.
		Observer: session.Observer{OnSave: func(_ context.Context, e session.SaveEvent) {
			if e.Outcome != session.SaveStored {
				fmt.Fprintf(os.Stderr, "session save: outcome %v, err %v\n", e.Outcome, e.Err)
			}
		}},
		Keys:     sessionKeys,
		Insecure: true, // plain http on loopback
		Prefix:   env.Prefix + "session:",
	})
	if err != nil {
		return sessionImpl{}, err
	}
	return sessionImpl{
		mw: m.Middleware,
		get: func(_ http.ResponseWriter, r *http.Request) (int64, error) {
			n, _, err := session.Get[int64](session.FromContext(r.Context()), counterKey)
			return n, err
		},
		incr: func(_ http.ResponseWriter, r *http.Request) (int64, error) {
			return session.FromContext(r.Context()).Incr(counterKey, 1)
		},
		put: func(_ http.ResponseWriter, r *http.Request, n int64) error {
			return session.FromContext(r.Context()).Put(counterKey, n)
		},
	}, nil
}
