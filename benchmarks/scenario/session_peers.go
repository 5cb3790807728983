package scenario

import (
	"context"
	"net/http"
	"time"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/gorilla/sessions"
	"github.com/rbcervilla/redisstore/v9"
)

// sessionLifetime is the peers' session lifetime, ours' IdleTimeout default.
const sessionLifetime = 24 * time.Hour

// scsSession is scs' LoadAndSave on its go-redis store, with its defaults.
// An increment is scs' own way: read the value, put the sum back; the whole
// session is written on save.
func scsSession(env Env) sessionImpl {
	sm := scs.New()
	sm.Store = goredisstore.NewWithPrefix(env.RDB, env.Prefix+"scs:")
	sm.Lifetime = sessionLifetime
	return sessionImpl{
		mw: sm.LoadAndSave,
		get: func(_ http.ResponseWriter, r *http.Request) (int64, error) {
			return sm.GetInt64(r.Context(), counterKey), nil
		},
		incr: func(_ http.ResponseWriter, r *http.Request) (int64, error) {
			n := sm.GetInt64(r.Context(), counterKey) + 1
			sm.Put(r.Context(), counterKey, n)
			return n, nil
		},
		put: func(_ http.ResponseWriter, r *http.Request, n int64) error {
			sm.Put(r.Context(), counterKey, n)
			return nil
		},
	}
}

// gorillaSessionName is the cookie and session name of the gorilla store.
const gorillaSessionName = "session"

// gorillaSession is gorilla/sessions on rbcervilla/redisstore (go-redis v9),
// the Redis store of gorilla/sessions that supports go-redis v9. Its cookie
// holds the bare session ID (not signed), and a save writes the whole
// session (gob) with SET.
func gorillaSession(ctx context.Context, env Env) (sessionImpl, error) {
	store, err := redisstore.NewRedisStore(ctx, env.RDB)
	if err != nil {
		return sessionImpl{}, err
	}
	store.KeyPrefix(env.Prefix + "gorilla:")
	store.Options(sessions.Options{Path: "/", MaxAge: int(sessionLifetime / time.Second), HttpOnly: true})
	get := func(r *http.Request) (*sessions.Session, int64, error) {
		s, err := store.Get(r, gorillaSessionName)
		if err != nil {
			return nil, 0, err
		}
		n, _ := s.Values[counterKey].(int64)
		return s, n, nil
	}
	return sessionImpl{
		mw: func(next http.Handler) http.Handler { return next },
		get: func(_ http.ResponseWriter, r *http.Request) (int64, error) {
			_, n, err := get(r)
			return n, err
		},
		incr: func(w http.ResponseWriter, r *http.Request) (int64, error) {
			s, n, err := get(r)
			if err != nil {
				return 0, err
			}
			n++
			s.Values[counterKey] = n
			return n, s.Save(r, w)
		},
		put: func(w http.ResponseWriter, r *http.Request, n int64) error {
			s, _, err := get(r)
			if err != nil {
				return err
			}
			s.Values[counterKey] = n
			return s.Save(r, w)
		},
	}, nil
}
