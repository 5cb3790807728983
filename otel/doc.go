// Package otel turns the observer hooks of the redisware packages into
// OpenTelemetry metrics and span events. It is a module of its own, so the
// library's go.mod never pulls in OpenTelemetry.
//
// One Telemetry serves every package: it makes the instruments once, and
// each of its methods returns the Observer of one package, to set in that
// package's Options.
//
//	tel, err := otel.New(otel.Options{MeterProvider: mp, TracerProvider: tp})
//	limiter, err := ratelimit.New(rdb, ratelimit.Options{Observer: tel.Ratelimit()})
//	sessions, err := session.New(rdb, session.Options{Keys: keys, Observer: tel.Session()})
//
// # Metrics
//
// Every name starts with "redisware.", durations are histograms in
// seconds, sizes in bytes, and counts carry the thing counted as their
// unit ({decision}, {request}). Attributes hold only what the application
// chose or the package defines: a limit's name, an outcome, a reason, an
// operation, a package; never a client's key, IP, URL, session or
// channel.
//
//	redisware.redis.call.duration        s           package, operation, error.type (on failure)
//	redisware.breaker.transitions        {transition} package, state (open, closed)
//	redisware.breaker.open               {breaker}   package (breakers open now)
//	redisware.breaker.outage.duration    s           package (recorded as an outage ends)
//	redisware.breaker.refused            {request}   package (counted as an outage ends)
//	redisware.ratelimit.decisions        {decision}  limit, outcome, source
//	redisware.ratelimit.cost             {unit}      limit, outcome
//	redisware.session.loads              {load}      outcome
//	redisware.session.saves              {save}      outcome
//	redisware.session.lifecycle          {event}     event (created, login, destroyed)
//	redisware.cache.requests             {request}   outcome, reason
//	redisware.cache.body.size            By          outcome
//	redisware.cache.stores               {response}  outcome, reason, revalidated
//	redisware.cache.waits                {wait}      outcome
//	redisware.cache.wait.duration        s           outcome
//	redisware.cache.purges               {purge}     kind, error.type (on failure)
//	redisware.aside.gets                 {get}       outcome, tier
//	redisware.aside.fetch.duration       s           outcome
//	redisware.aside.refreshes            {refresh}   outcome
//	redisware.aside.invalidations        {invalidation} kind
//	redisware.pubsub.messages.published  {message}   outcome
//	redisware.pubsub.messages.received   {message}   outcome
//	redisware.pubsub.reconnects          {reconnect}
//	redisware.pubsub.sse.clients         {client}    (streams open now)
//	redisware.pubsub.sse.duration        s           outcome (ended, slow)
//
// # Traces
//
// Where a request is in flight (trace.SpanFromContext finds a recording
// span in its context), its span gets an event for what the packages
// decided (redisware.ratelimit.decision, redisware.session.load,
// redisware.cache.serve, ...), and each Redis call becomes a child span,
// "redisware.redis <operation>", timed as the call was. Without a
// recording span nothing is made.
package otel
