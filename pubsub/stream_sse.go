package pubsub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
)

// LastEventIDParam is the query parameter a stream SSE request may carry
// instead of the Last-Event-ID header, for clients that cannot set
// headers (a browser's first EventSource connection, say:
// new EventSource("/events?lastEventId=" + id)). The header wins when a
// request has both, because a browser reconnecting by itself sends its
// newer ID in the header, to the URL that still holds the first one.
const LastEventIDParam = "lastEventId"

// Defaults of StreamSSEOptions.
const (
	DefaultResetEvent      = "reset"
	DefaultStreamSSEBuffer = 256
)

// StreamSSEOptions configure the handler NewStreamSSE builds. The zero
// value is the default everywhere.
type StreamSSEOptions struct {
	// Stream holds the key prefix of the streams and how they are read
	// (Block, Count), with their defaults. Prefix must be the writers';
	// so must MaxLen, or less: with Count, it is how a reader tells that
	// entries were trimmed away before it read them. Passing the writers'
	// StreamOptions is simplest. TTL is not used.
	Stream StreamOptions
	// Backlog is how many of the newest entries a client that brings no
	// Last-Event-ID gets first, so that a page that loads shows what just
	// happened. At most Stream.Count. Zero means none: such a client gets
	// only what is appended after it connected.
	Backlog int
	// ResetEvent names the event that tells a client that entries after
	// its Last-Event-ID may be gone (trimmed away, or lost with an expired
	// key), so it must refetch its state: the stream then goes on with the
	// entries appended after the reset. Its id field is the stream's last
	// ID, so a reconnect resumes from there, and its data that ID as a
	// JSON string. Empty means DefaultResetEvent, "reset".
	ResetEvent string
	// Buffer is how many entries may wait in memory for one client. A
	// client that falls further behind stops being fed from memory and
	// catches up from Redis on its own, in pages of Stream.Count, then
	// joins the live feed again: a slow client costs neither memory nor
	// lost entries, only round trips. Zero means DefaultStreamSSEBuffer,
	// 256.
	Buffer int
	// Heartbeat, WriteTimeout and Retry mean what they mean in
	// SSEOptions, with the same defaults: 15 s, 10 s, and no "retry:"
	// field.
	Heartbeat    time.Duration
	WriteTimeout time.Duration
	Retry        time.Duration
	// ErrorHandler answers a request that cannot be streamed: the stream
	// function failed or returned an invalid name, or the Last-Event-ID
	// is malformed or beyond the stream's last ID (the error wraps
	// ErrInvalidID): all of those should be 4xx; or Redis failed (5xx).
	// If nil, the error is logged and the client gets 400 or 503 with a
	// generic body.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Logger receives the handler's log lines. Nil means slog.Default().
	Logger *slog.Logger
}

// StreamSSE returns a Server-Sent Events handler fed by the Redis stream
// the function names for the request, with default options. See
// NewStreamSSE. Panics if rdb or stream is nil.
func StreamSSE(rdb redis.UniversalClient, stream func(r *http.Request) (string, error)) http.Handler {
	h, err := NewStreamSSE(rdb, stream, StreamSSEOptions{})
	if err != nil {
		panic(err)
	}
	return h
}

// NewStreamSSE returns a Server-Sent Events handler fed by a stream. For
// each request it calls stream (the place to authorize: return an error
// to refuse) for the name of the stream to follow, as given to NewStream,
// and answers 200 text/event-stream with one event per entry:
//
//	id: <stream ID>
//	event: <stream name>
//	data: <JSON payload, one data: line per line>
//
// A client that brings the ID of the last event it got, in the
// Last-Event-ID header (a browser's EventSource sends it by itself when
// it reconnects) or the LastEventIDParam query parameter, first gets the
// entries it missed, then the live ones, with no gap and no duplicate
// between the two. If entries after its ID may be gone, it gets a reset
// event instead (see StreamSSEOptions.ResetEvent); "0-0" asks for
// everything the stream holds. A malformed ID, or one beyond the
// stream's last ID, is refused with 400 before anything is streamed.
//
// Each handler reads each stream it serves live on one connection,
// whatever the number of its clients (XREAD BLOCK, at most Count entries
// a read), and stops when the last client leaves, within Block. While
// Redis is unreachable, clients stay connected and get the entries late,
// not never. Entries that are not JSON are logged and skipped.
func NewStreamSSE(rdb redis.UniversalClient, stream func(r *http.Request) (string, error), o StreamSSEOptions) (http.Handler, error) {
	if rdb == nil {
		return nil, errors.New("pubsub: sse: nil redis client")
	}
	if stream == nil {
		return nil, errors.New("pubsub: sse: nil stream function")
	}
	var err error
	if o.Stream, err = o.Stream.withDefaults(); err != nil {
		return nil, err
	}
	switch {
	case o.Backlog < 0:
		return nil, fmt.Errorf("pubsub: sse: negative Backlog %d", o.Backlog)
	case int64(o.Backlog) > o.Stream.Count:
		return nil, fmt.Errorf("pubsub: sse: Backlog %d exceeds Stream.Count %d", o.Backlog, o.Stream.Count)
	case o.Buffer < 0:
		return nil, fmt.Errorf("pubsub: sse: negative Buffer %d", o.Buffer)
	}
	if err := sseDefaults(&o.Heartbeat, &o.WriteTimeout, o.Retry, &o.Logger); err != nil {
		return nil, err
	}
	if o.ResetEvent == "" {
		o.ResetEvent = DefaultResetEvent
	}
	if o.Buffer == 0 {
		o.Buffer = DefaultStreamSSEBuffer
	}
	return &streamSSEHandler{rdb: rdb, stream: stream, o: o}, nil
}

type streamSSEHandler struct {
	rdb    redis.UniversalClient
	stream func(*http.Request) (string, error)
	o      StreamSSEOptions
	hubs   streamHubs
}

func (h *streamSSEHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	refuse(h.o.ErrorHandler, h.o.Logger, w, r, err)
}

// lastEventID returns the request's Last-Event-ID, from the header or
// else the query parameter, and whether it has one.
func lastEventID(r *http.Request) (streamID, bool, error) {
	raw := r.Header.Get("Last-Event-ID")
	if raw == "" {
		raw = r.URL.Query().Get(LastEventIDParam)
	}
	if raw == "" {
		return streamID{}, false, nil
	}
	id, ok := parseStreamID(raw)
	if !ok {
		return id, false, fmt.Errorf("%.50q: %w", raw, ErrInvalidID)
	}
	return id, true, nil
}

func (h *streamSSEHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, err := h.stream(r)
	if err == nil {
		err = validStreamName(name)
	}
	if err != nil {
		h.fail(w, r, errRequest{"stream", err})
		return
	}
	after, resuming, err := lastEventID(r)
	if err != nil {
		h.fail(w, r, errRequest{"Last-Event-ID", err})
		return
	}
	ctx := r.Context()
	s := &streamSession{h: h, name: name, r: h.o.Stream.reader(h.rdb, h.o.Stream.Prefix+name)}
	var backlog int64
	if !resuming {
		backlog = int64(h.o.Backlog)
	}
	loc, err := s.r.locate(ctx, backlog)
	if err != nil {
		if ctx.Err() == nil {
			h.fail(w, r, fmt.Errorf("pubsub: sse: stream %q: %w", name, err))
		}
		return
	}
	s.sent = loc.last
	reset, replay := false, false
	switch {
	case !resuming:
	case after == streamID{}: // everything held
		s.sent, replay = loc.beforeFirst(), true
	default:
		lost, err := s.r.resume(after, loc)
		if err != nil {
			h.fail(w, r, errRequest{"Last-Event-ID", fmt.Errorf("%s is beyond the stream's last ID %s: %w", after, loc.last, err)})
			return
		}
		if lost {
			reset = true
		} else {
			s.sent, replay = after, after.compare(loc.last) < 0
		}
	}

	if s.c, err = openStream(w, h.o.WriteTimeout, h.o.Retry); err != nil {
		return // the client is gone
	}
	if reset && s.reset(loc.last) != nil {
		return
	}
	if len(loc.backlog) > 0 && s.writeBacklog(ctx, loc.backlog, loc.last) != nil {
		return
	}
	s.follow(ctx, replay)
}

// streamSession is one client's stream: where it is and how to write it.
type streamSession struct {
	h    *streamSSEHandler
	c    *sseConn
	r    streamReader
	name string
	sent streamID // the last ID the client was sent (or reset to)
}

// follow feeds the client until it leaves, or writing or Redis fails: it
// replays from Redis what the client misses (if replay), joins the live
// feed, catches up with it, and follows it; a client that falls behind it
// goes back to Redis.
func (s *streamSession) follow(ctx context.Context, replay bool) {
	for {
		if replay && !s.catchUp(ctx, nil) {
			return
		}
		f := newFollower()
		hb, at := s.h.hubs.join(s.r, s.name, s.h.o.Buffer, s.h.o.Logger, f, s.sent)
		detached := false
		if at.compare(s.sent) <= 0 || s.catchUp(ctx, &at) {
			detached = s.live(ctx, f)
		}
		s.h.hubs.leave(hb, f)
		if !detached {
			return
		}
		replay = true
	}
}

// catchUp sends the entries after sent, read from Redis a page at a time,
// until a page is not full (the client has caught up with the stream) or
// it has reached until. It reports false when the stream must end.
func (s *streamSession) catchUp(ctx context.Context, until *streamID) bool {
	for {
		msgs, lost, err := s.r.page(ctx, s.sent)
		if err == nil && lost {
			var loc located
			if loc, err = s.r.locate(ctx, 0); err == nil {
				if s.reset(loc.last) != nil {
					return false
				}
				continue
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				s.h.o.Logger.LogAttrs(ctx, slog.LevelWarn, "pubsub: sse: stream ended: cannot read it",
					slog.String("stream", s.name), slog.Any("err", err))
			}
			return false
		}
		if s.writeEntries(ctx, msgs, streamID{}) != nil {
			return false
		}
		if int64(len(msgs)) < s.r.count || (until != nil && s.sent.compare(*until) >= 0) {
			return true
		}
	}
}

// live writes what the hub feeds f, with heartbeats, until the client
// leaves or f is detached (it reports true then).
func (s *streamSession) live(ctx context.Context, f *follower) bool {
	var tick <-chan time.Time
	if s.h.o.Heartbeat > 0 {
		t := time.NewTicker(s.h.o.Heartbeat)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-f.wake:
			items, detached := f.take()
			for _, it := range items {
				var err error
				switch {
				case !it.reset:
					err = s.writeFrames(it.frames)
				case it.back || it.at.compare(s.sent) > 0:
					err = s.reset(it.at)
				}
				if err != nil {
					return false
				}
			}
			if detached {
				return true
			}
		case <-tick:
			if s.c.send(heartbeat) != nil {
				return false
			}
		}
	}
}

// writeFrames writes the frames after sent, with one flush.
func (s *streamSession) writeFrames(frames []frame) error {
	if err := s.c.deadline(); err != nil {
		return err
	}
	wrote := false
	for _, fr := range frames {
		if fr.id.compare(s.sent) <= 0 {
			continue // the client has it: sent while catching up
		}
		if _, err := s.c.w.Write(fr.b); err != nil {
			return err
		}
		s.sent, wrote = fr.id, true
	}
	if !wrote {
		return nil
	}
	return s.c.rc.Flush()
}

// writeEntries writes msgs (oldest first) after sent, up to through if it
// is not 0-0, and skips entries that are not this package's JSON.
func (s *streamSession) writeEntries(ctx context.Context, msgs []redis.XMessage, through streamID) error {
	b := &s.c.buf
	b.Reset()
	for _, m := range msgs {
		id, ok := parseStreamID(m.ID)
		if !ok || id.compare(s.sent) <= 0 || (through != streamID{} && id.compare(through) > 0) {
			continue
		}
		s.sent = id
		data, err := payload(m)
		if err == nil && !json.Valid([]byte(data)) {
			err = errNotJSON
		}
		if err != nil {
			s.h.o.Logger.LogAttrs(ctx, slog.LevelWarn, "pubsub: sse: entry skipped",
				slog.String("stream", s.name), slog.String("id", m.ID), slog.Any("err", err))
			continue
		}
		writeStreamEvent(b, m.ID, s.name, data)
	}
	if b.Len() == 0 {
		return nil
	}
	return s.c.send(b.Bytes())
}

// writeBacklog writes the backlog (newest first, as XREVRANGE returns it)
// oldest first, up to last: what came after last is read with the rest.
func (s *streamSession) writeBacklog(ctx context.Context, backlog []redis.XMessage, last streamID) error {
	msgs := make([]redis.XMessage, len(backlog))
	for i, m := range backlog {
		msgs[len(backlog)-1-i] = m
	}
	s.sent = streamID{}
	if last == (streamID{}) {
		return nil
	}
	err := s.writeEntries(ctx, msgs, last)
	s.sent = last
	return err
}

// reset tells the client to refetch its state; the stream goes on after
// at.
func (s *streamSession) reset(at streamID) error {
	b := &s.c.buf
	b.Reset()
	id := at.String()
	writeStreamEvent(b, id, s.h.o.ResetEvent, `"`+id+`"`)
	s.sent = at
	return s.c.send(b.Bytes())
}

var errNotJSON = errors.New("payload is not JSON")

// writeStreamEvent appends one event with an id field to buf. id is a
// stream ID: digits and a dash, nothing that could end the field.
func writeStreamEvent(buf *bytes.Buffer, id, event, data string) {
	buf.WriteString("id: ")
	buf.WriteString(id)
	buf.WriteByte('\n')
	writeEvent(buf, event, data)
}
