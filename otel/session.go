package otel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/redisware/redisware/session"
)

type sessionInstruments struct {
	loads     metric.Int64Counter
	saves     metric.Int64Counter
	lifecycle metric.Int64Counter
}

func (i *sessionInstruments) init(m *instruments) {
	i.loads = m.counter("redisware.session.loads", "{load}",
		"Sessions loaded for requests, by outcome (new, found, not-found, corrupt, failed).")
	i.saves = m.counter("redisware.session.saves", "{save}",
		"Saves of requests' session changes, by outcome (stored, gone, dropped, failed).")
	i.lifecycle = m.counter("redisware.session.lifecycle", "{event}",
		"Sessions created, logged in and destroyed (saved ones only).")
}

var outcomeAttr = []string{"outcome"}

// Session returns the Observer of a session.Manager.
func (t *Telemetry) Session() session.Observer {
	return session.Observer{
		OnLoad: func(ctx context.Context, e session.LoadEvent) {
			outcome := e.Outcome.String()
			t.sess.loads.Add(ctx, 1, t.with("session.loads", outcomeAttr, outcome, "", ""))
			if recording(ctx) {
				kv := []attribute.KeyValue{attribute.String("outcome", outcome)}
				if e.Err != nil {
					kv = append(kv, attribute.String("error.type", errorType(e.Err)))
				}
				event(ctx, "redisware.session.load", kv...)
			}
		},
		OnSave: func(ctx context.Context, e session.SaveEvent) {
			outcome := e.Outcome.String()
			t.sess.saves.Add(ctx, 1, t.with("session.saves", outcomeAttr, outcome, "", ""))
			if e.Outcome == session.SaveStored {
				for _, ev := range [...]struct {
					on   bool
					name string
				}{{e.Created, "created"}, {e.Login, "login"}, {e.Destroyed, "destroyed"}} {
					if ev.on {
						t.sess.lifecycle.Add(ctx, 1, t.with("session.lifecycle", eventAttr, ev.name, "", ""))
					}
				}
			}
			if recording(ctx) {
				kv := []attribute.KeyValue{attribute.String("outcome", outcome), attribute.Bool("created", e.Created),
					attribute.Bool("login", e.Login), attribute.Bool("destroyed", e.Destroyed)}
				if e.Err != nil {
					kv = append(kv, attribute.String("error.type", errorType(e.Err)))
				}
				event(ctx, "redisware.session.save", kv...)
			}
		},
		OnRedisCall: t.redisCalls("session"),
		OnBreaker:   t.breakers("session"),
	}
}

var eventAttr = []string{"event"}
