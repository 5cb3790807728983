package session

import (
	"context"

	"github.com/redisware/redisware/middleware"
)

// Observer receives what a Manager does, for metrics and traces (the otel
// module turns it into OpenTelemetry metrics and span events). Every hook
// may be nil, and the zero Observer observes nothing and costs nothing.
// Hooks run on the request's goroutine, so they must be quick and safe
// for concurrent use. They never see a session's ID, user or values.
type Observer struct {
	// OnLoad is called once per request under Middleware, when its
	// session has been loaded (or could not be).
	OnLoad func(ctx context.Context, e LoadEvent)
	// OnSave is called after each save of a request's changes; a request
	// that changed nothing saves nothing.
	OnSave func(ctx context.Context, e SaveEvent)
	// OnRedisCall is called after each Redis call, with Operation "load"
	// or "save" for requests, "incr" for IncrNow, "list" and "prune" for
	// Sessions, "destroy-user" for DestroyUser and "preload" for Preload.
	OnRedisCall func(ctx context.Context, c middleware.RedisCall)
	// OnBreaker is called at each change of state of the Manager's
	// circuit breaker.
	OnBreaker func(e middleware.BreakerEvent)
}

// LoadOutcome is what loading a request's session found.
type LoadOutcome uint8

const (
	// LoadNew: the request had no valid cookie, so it starts a new
	// session without asking Redis.
	LoadNew LoadOutcome = iota
	// LoadFound: the cookie's session was loaded.
	LoadFound
	// LoadNotFound: the cookie names no stored session (it expired, was
	// destroyed or renewed): the request starts a new one.
	LoadNotFound
	// LoadCorrupt: the session's key holds corrupt or foreign data, which
	// is logged; the request starts a new session.
	LoadCorrupt
	// LoadFailed: Redis failed or the breaker is open; the request is
	// answered by Options.ErrorHandler.
	LoadFailed
)

var loadOutcomes = [...]string{"new", "found", "not-found", "corrupt", "failed"}

// String returns "new", "found", "not-found", "corrupt" or "failed".
func (o LoadOutcome) String() string {
	if int(o) < len(loadOutcomes) {
		return loadOutcomes[o]
	}
	return "unknown"
}

// LoadEvent is the loading of one request's session, as Observer.OnLoad
// receives it.
type LoadEvent struct {
	Outcome LoadOutcome
	// Err is the error of LoadFailed, nil otherwise.
	Err error
}

// SaveOutcome is what became of a save.
type SaveOutcome uint8

const (
	// SaveStored: the changes were written.
	SaveStored SaveOutcome = iota
	// SaveGone: the session was destroyed, renewed by a Login or expired
	// meanwhile, so nothing was written (it is not resurrected).
	SaveGone
	// SaveDropped: changes that needed a new cookie (a new session, a
	// Login) came after the response's header was sent and were not
	// saved; Err wraps ErrHeadersWritten.
	SaveDropped
	// SaveFailed: Redis failed, the breaker is open, or an Incr met a
	// value that is not an integer; nothing was written.
	SaveFailed
)

var saveOutcomes = [...]string{"stored", "gone", "dropped", "failed"}

// String returns "stored", "gone", "dropped" or "failed".
func (o SaveOutcome) String() string {
	if int(o) < len(saveOutcomes) {
		return saveOutcomes[o]
	}
	return "unknown"
}

// SaveEvent is one save of a request's changes, as Observer.OnSave
// receives it.
type SaveEvent struct {
	Outcome SaveOutcome
	// Created reports whether the save creates a session: a new one, or
	// the new ID a Login gives the visitor's session.
	Created bool
	// Login reports whether the save records a Login.
	Login bool
	// Destroyed reports whether the save deletes a session that Destroy
	// ended.
	Destroyed bool
	// Err is the error of SaveDropped and SaveFailed, nil otherwise; the
	// request's Options.ErrorHandler gets it too.
	Err error
}

// saved reports a save to the Observer.
func (m *Manager) saved(ctx context.Context, e SaveEvent, outcome SaveOutcome, err error) {
	if m.o.Observer.OnSave != nil {
		e.Outcome, e.Err = outcome, err
		m.o.Observer.OnSave(ctx, e)
	}
}
