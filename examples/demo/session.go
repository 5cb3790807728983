package main

import (
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gorilla/securecookie"

	"github.com/redisware/redisware/session"
)

// mountSession registers the session demo under /session/: a visit
// counter, a login form (any name, no password: it is a demo), logout, and
// "log out everywhere" listing the user's sessions.
func (d *demo) mountSession(mux *http.ServeMux) error {
	rdb := d.rdb
	// Keys are generated at start, so a restart invalidates every cookie. A
	// real application loads them from its secret store; never commit them.
	hashKey, blockKey := securecookie.GenerateRandomKey(32), securecookie.GenerateRandomKey(32)
	if hashKey == nil || blockKey == nil {
		return errors.New("session demo: no randomness for the cookie keys")
	}
	m, err := session.New(rdb, session.Options{
		Keys:     [][]byte{hashKey, blockKey},
		Insecure: true, // the demo serves plain http; production keeps Secure
	})
	if err != nil {
		return err
	}
	mux.Handle("GET /session/{$}", m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		visits, err := s.Incr("visits", 1)
		if err != nil {
			slog.WarnContext(r.Context(), "session demo: visits", "err", err)
		}
		flash, _, _ := session.Pop[string](s, "flash")
		data := sessionPageData{Visits: visits, User: s.UserID(), Flash: flash, Current: s.ID()}
		if data.User != "" {
			if data.Sessions, err = m.Sessions(r.Context(), data.User); err != nil {
				slog.WarnContext(r.Context(), "session demo: listing sessions", "err", err)
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := sessionPage.Execute(w, data); err != nil {
			slog.WarnContext(r.Context(), "session demo: template", "err", err)
		}
	})))
	mux.Handle("POST /session/login", m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		user := strings.TrimSpace(r.PostFormValue("user"))
		if err := s.Login(user); err != nil {
			_ = s.Put("flash", "Give a user name of 1 to 512 bytes.")
		} else {
			_ = s.Put("flash", "Logged in; the session ID was renewed.")
		}
		http.Redirect(w, r, "/session/", http.StatusSeeOther)
	})))
	mux.Handle("POST /session/logout", m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Destroy()
		http.Redirect(w, r, "/session/", http.StatusSeeOther)
	})))
	mux.Handle("POST /session/logout-everywhere", m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		if user := s.UserID(); user != "" {
			if _, err := m.DestroyUser(r.Context(), user); err != nil {
				slog.ErrorContext(r.Context(), "session demo: log out everywhere", "err", err)
				http.Error(w, "could not log out everywhere; try again", http.StatusServiceUnavailable)
				return
			}
			s.Destroy() // also expire this browser's cookie
		}
		http.Redirect(w, r, "/session/", http.StatusSeeOther)
	})))
	return nil
}

type sessionPageData struct {
	Visits   int64
	User     string
	Flash    string
	Current  string
	Sessions []session.Info
}

var sessionPage = template.Must(template.New("session").Parse(`<!doctype html>
<title>session demo</title>
<h1>Sessions</h1>
{{with .Flash}}<p><strong>{{.}}</strong></p>{{end}}
<p>Visits in this session: {{.Visits}} (counted with Incr, atomic in Redis)</p>
{{if .User}}
<p>Logged in as <b>{{.User}}</b>.</p>
<form method="post" action="/session/logout"><button>Log out</button></form>
<form method="post" action="/session/logout-everywhere"><button>Log out everywhere</button></form>
<h2>Your sessions</h2>
<ul>{{range .Sessions}}<li>created {{.Created.Format "15:04:05"}}, last seen {{.LastSeen.Format "15:04:05"}}{{if eq .ID $.Current}} (this browser){{end}}</li>{{end}}</ul>
{{else}}
<form method="post" action="/session/login">
<label>User name <input name="user" required></label> <button>Log in</button>
</form>
<p>Log in from two browsers, then "log out everywhere" from one.</p>
{{end}}
<p><a href="/">back</a></p>
`))
