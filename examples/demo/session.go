package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/redisware/redisware/session"
)

// mountSession registers the session demo's JSON API, which the page's
// session panel calls:
//
//	GET  /session/state               counts a visit, returns the session
//	POST /session/login               logs in as form field "user" (no password: a demo)
//	POST /session/logout              destroys this session
//	POST /session/logout-everywhere   destroys every session of the user
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
		Prefix:   d.prefix + "demo:session:",
		Observer: d.tel.Session(),
	})
	if err != nil {
		return err
	}
	mux.Handle("GET /session/state", m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		visits, err := s.Incr("visits", 1)
		if err != nil {
			slog.WarnContext(r.Context(), "session demo: visits", "err", err)
		}
		// The session is saved as the header goes out, and a new one gets
		// its ID then: send the header first to show the ID it got.
		sendHeader(w, http.StatusOK)
		state := sessionState{Visits: visits, User: s.UserID(), ID: fingerprint(s.ID())}
		if state.User != "" {
			infos, err := m.Sessions(r.Context(), state.User)
			if err != nil {
				slog.WarnContext(r.Context(), "session demo: listing sessions", "err", err)
			}
			for _, in := range infos {
				state.Sessions = append(state.Sessions, sessionInfo{
					ID: fingerprint(in.ID), Created: in.Created, LastSeen: in.LastSeen, This: in.ID == s.ID(),
				})
			}
		}
		_ = json.NewEncoder(w).Encode(state)
	})))
	mux.Handle("POST /session/login", m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		s := session.FromContext(r.Context())
		before := fingerprint(s.ID())
		if err := s.Login(strings.TrimSpace(r.PostFormValue("user"))); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "user: 1 to 512 bytes"})
			return
		}
		sendHeader(w, http.StatusOK) // saves the session under its new ID
		_ = json.NewEncoder(w).Encode(map[string]string{
			"result": "logged in as " + s.UserID() + "; the session ID was renewed", "id_before": before, "id_after": fingerprint(s.ID()),
		})
	})))
	mux.Handle("POST /session/logout", m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Destroy()
		writeJSON(w, http.StatusOK, map[string]string{"result": "logged out; the session is deleted"})
	})))
	mux.Handle("POST /session/logout-everywhere", m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		user := s.UserID()
		if user == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "not logged in"})
			return
		}
		n, err := m.DestroyUser(r.Context(), user)
		if err != nil {
			slog.ErrorContext(r.Context(), "session demo: log out everywhere", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "could not log out everywhere; try again"})
			return
		}
		s.Destroy() // also expire this browser's cookie
		writeJSON(w, http.StatusOK, map[string]int{"sessions_deleted": n})
	})))
	return nil
}

// sessionState is what GET /session/state answers.
type sessionState struct {
	Visits   int64         `json:"visits"`
	User     string        `json:"user"`
	ID       string        `json:"id_fingerprint"`
	Sessions []sessionInfo `json:"sessions,omitempty"`
}

type sessionInfo struct {
	ID       string    `json:"id_fingerprint"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
	This     bool      `json:"this_browser"`
}

// fingerprint shows a session ID without giving it away: the first 8 hex
// digits of its SHA-256, enough to see it change. "" (a session not saved
// yet, whose ID is assigned as its response goes out) stays "".
func fingerprint(id string) string {
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:4])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	sendHeader(w, status)
	_ = json.NewEncoder(w).Encode(v)
}

// sendHeader sends the header of a JSON answer nobody may cache.
func sendHeader(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
}
