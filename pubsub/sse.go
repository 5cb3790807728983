package pubsub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// SSEOptions configure the handler NewSSE builds. The zero value is the
// default everywhere.
type SSEOptions struct {
	// Heartbeat is the interval of the comment line (": heartbeat") sent
	// while no message flows, which keeps proxies from timing the stream
	// out and detects gone clients. Zero means 15 s; negative disables it.
	Heartbeat time.Duration
	// Buffer is how many messages may wait for one client. A client that
	// reads slower than messages arrive fills it and is disconnected, so a
	// slow client never makes the server hold more than Buffer messages
	// for it. Zero means 64.
	Buffer int
	// WriteTimeout bounds each write to the client (set through
	// http.ResponseController, and it replaces the server's WriteTimeout,
	// which would otherwise end every long stream). Zero means 10 s;
	// negative means no deadline.
	WriteTimeout time.Duration
	// Retry, if positive, is sent first as the "retry:" field: how long a
	// browser's EventSource waits before it reconnects. Zero sends none.
	Retry time.Duration
	// ErrorHandler answers a request that cannot be streamed: the channels
	// function failed or returned no channel (the error wraps
	// ErrNoChannels or is the function's, and the status should be 4xx),
	// or Redis could not subscribe (5xx). If nil, the error is logged and
	// the client gets 400 or 503 with a generic body.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// OnSlowClient, if not nil, is called when a client is disconnected
	// because its buffer filled. The event is logged either way.
	OnSlowClient func(r *http.Request)
	// Logger receives the handler's log lines. Nil means slog.Default().
	Logger *slog.Logger
	// Observer receives each stream's opening and end, the messages its
	// subscription receives, its reconnections and Redis calls, for
	// metrics and traces. The zero value observes nothing and costs
	// nothing.
	Observer Observer
}

// ErrNoChannels is the error a stream is refused with when the channels
// function returns no channel.
var ErrNoChannels = errors.New("pubsub: sse: no channel to subscribe to")

// errRequest marks an error of the request (from the channels or stream
// function, or its Last-Event-ID) rather than of Redis.
type errRequest struct {
	what string
	err  error
}

func (e errRequest) Error() string { return "pubsub: sse: " + e.what + ": " + e.err.Error() }
func (e errRequest) Unwrap() error { return e.err }

// SSE returns a Server-Sent Events handler with default options: it
// subscribes to the channels the function returns for the request and
// sends each message as an event named after its channel with the JSON
// payload as data. See NewSSE. Panics if rdb or channels is nil.
func SSE(rdb redis.UniversalClient, channels func(r *http.Request) ([]string, error)) http.Handler {
	h, err := NewSSE(rdb, channels, SSEOptions{})
	if err != nil {
		panic(err)
	}
	return h
}

// NewSSE returns a Server-Sent Events handler. For each request it calls
// channels (the place to authorize: return an error to refuse), subscribes
// and waits for Redis to confirm, then answers 200 text/event-stream and
// writes one event per message:
//
//	event: <channel>
//	data: <JSON payload, one data: line per line>
//
// flushing each through http.ResponseController, so the handler works
// behind middleware whose writers implement Unwrap. A payload that is not
// JSON is logged and skipped. The stream ends when the client goes away,
// the server shuts down the request's context, or the client falls
// Buffer messages behind.
func NewSSE(rdb redis.UniversalClient, channels func(r *http.Request) ([]string, error), o SSEOptions) (http.Handler, error) {
	if rdb == nil {
		return nil, errors.New("pubsub: sse: nil redis client")
	}
	if channels == nil {
		return nil, errors.New("pubsub: sse: nil channels function")
	}
	if o.Buffer < 0 {
		return nil, fmt.Errorf("pubsub: sse: negative Buffer %d", o.Buffer)
	}
	if err := sseDefaults(&o.Heartbeat, &o.WriteTimeout, o.Retry, &o.Logger); err != nil {
		return nil, err
	}
	if o.Buffer == 0 {
		o.Buffer = 64
	}
	return &sseHandler{rdb: rdb, channels: channels, o: o}, nil
}

// sseDefaults validates and fills in the options both SSE handlers have.
func sseDefaults(heartbeat, writeTimeout *time.Duration, retry time.Duration, logger **slog.Logger) error {
	if retry < 0 {
		return fmt.Errorf("pubsub: sse: negative Retry %v", retry)
	}
	if *heartbeat == 0 {
		*heartbeat = 15 * time.Second
	}
	if *writeTimeout == 0 {
		*writeTimeout = 10 * time.Second
	}
	if *logger == nil {
		*logger = slog.Default()
	}
	return nil
}

type sseHandler struct {
	rdb      redis.UniversalClient
	channels func(*http.Request) ([]string, error)
	o        SSEOptions
}

func (h *sseHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	refuse(h.o.ErrorHandler, h.o.Logger, w, r, err)
}

// refuse answers a request that cannot be streamed: through eh if set,
// else with a log line and 400 for an errRequest, 503 for anything else.
func refuse(eh func(http.ResponseWriter, *http.Request, error), logger *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	if eh != nil {
		eh(w, r, err)
		return
	}
	status := http.StatusServiceUnavailable
	var re errRequest
	if errors.As(err, &re) {
		status = http.StatusBadRequest
	}
	logger.LogAttrs(r.Context(), slog.LevelError, "pubsub: sse: stream refused",
		slog.String("path", r.URL.Path), slog.Int("status", status), slog.Any("err", err))
	http.Error(w, http.StatusText(status), status)
}

func (h *sseHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	chans, err := h.channels(r)
	if err != nil {
		h.fail(w, r, errRequest{"channels", err})
		return
	}
	if len(chans) == 0 {
		h.fail(w, r, errRequest{"channels", ErrNoChannels})
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sub, err := Open[json.RawMessage](ctx, h.rdb, SubscribeOptions{Channels: chans, Observer: h.o.Observer})
	if err != nil {
		if r.Context().Err() != nil {
			return // the client left while we subscribed
		}
		h.fail(w, r, err)
		return
	}
	defer sub.Close()
	var slow *atomic.Bool // set by the reader, read once it is done; nil if unobserved
	if obs := h.o.Observer.OnSSEClient; obs != nil {
		obs(r.Context(), SSEClientEvent{Connected: true})
		start, s := time.Now(), new(atomic.Bool)
		slow = s
		defer func() { obs(r.Context(), SSEClientEvent{Duration: time.Since(start), Slow: s.Load()}) }()
	}

	c, err := openStream(w, h.o.WriteTimeout, h.o.Retry)
	if err != nil {
		h.o.Logger.LogAttrs(ctx, slog.LevelError, "pubsub: sse: cannot stream", slog.Any("err", err))
		return
	}

	// The reader moves messages from Redis into a bounded queue; it never
	// blocks on the client. When the queue is full the client is too slow:
	// the stream ends rather than letting memory grow.
	queue := make(chan Message[json.RawMessage], h.o.Buffer)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for msg, err := range sub.Messages() {
			if err != nil {
				// A payload that is not JSON, or a lost connection that
				// go-redis is restoring: the stream goes on either way.
				h.o.Logger.LogAttrs(ctx, slog.LevelWarn, "pubsub: sse: message skipped or subscription interrupted",
					slog.String("channel", msg.Channel), slog.Any("err", err))
				continue
			}
			select {
			case queue <- msg:
			default:
				cancel() // first: nothing more is written once the hook runs
				if slow != nil {
					slow.Store(true)
				}
				h.o.Logger.LogAttrs(r.Context(), slog.LevelWarn, "pubsub: sse: slow client disconnected",
					slog.String("path", r.URL.Path), slog.Int("buffer", h.o.Buffer))
				if h.o.OnSlowClient != nil {
					h.o.OnSlowClient(r)
				}
				return
			}
		}
	}()
	defer func() {
		cancel()
		<-readerDone
	}()

	var tick <-chan time.Time
	if h.o.Heartbeat > 0 {
		t := time.NewTicker(h.o.Heartbeat)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-queue:
			if ctx.Err() != nil {
				return // cut off: do not drain the queue into a slow client
			}
			c.buf.Reset()
			writeEvent(&c.buf, msg.Channel, msg.Payload)
			if err := c.send(c.buf.Bytes()); err != nil {
				return // the client is gone
			}
		case <-tick:
			if err := c.send(heartbeat); err != nil {
				return
			}
		}
	}
}

// heartbeat is the comment both SSE handlers send while nothing flows.
var heartbeat = []byte(": heartbeat\n\n")

// sseConn is one open event stream: the writer, its controller, the write
// deadline of each send, and a buffer to build events in.
type sseConn struct {
	w            http.ResponseWriter
	rc           *http.ResponseController
	writeTimeout time.Duration
	buf          bytes.Buffer
}

// openStream answers 200 text/event-stream and sends the "retry:" field
// if retry is positive, or an empty flush, so the client knows the stream
// is open.
func openStream(w http.ResponseWriter, writeTimeout, retry time.Duration) (*sseConn, error) {
	c := &sseConn{w: w, rc: http.NewResponseController(w), writeTimeout: writeTimeout}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	if writeTimeout < 0 {
		_ = c.rc.SetWriteDeadline(time.Time{})
	}
	w.WriteHeader(http.StatusOK)
	if retry > 0 {
		c.buf.WriteString("retry: ")
		c.buf.WriteString(strconv.FormatInt(retry.Milliseconds(), 10))
		c.buf.WriteString("\n\n")
	}
	return c, c.send(c.buf.Bytes())
}

// deadline sets the write deadline of the next send.
func (c *sseConn) deadline() error {
	if c.writeTimeout > 0 {
		if err := c.rc.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
	}
	return nil
}

// send writes p and flushes it, under the write deadline.
func (c *sseConn) send(p []byte) error {
	if err := c.deadline(); err != nil {
		return err
	}
	if len(p) > 0 {
		if _, err := c.w.Write(p); err != nil {
			return err
		}
	}
	return c.rc.Flush()
}

// writeEvent appends one event to buf. The event name has CR and LF
// removed (they would end the field); data is split into one "data:" line
// per line, on CRLF, CR or LF alike, as the SSE format requires.
func writeEvent(buf *bytes.Buffer, event, data string) {
	if event != "" {
		buf.WriteString("event: ")
		for i := 0; i < len(event); i++ {
			if c := event[i]; c != '\r' && c != '\n' {
				buf.WriteByte(c)
			}
		}
		buf.WriteByte('\n')
	}
	for {
		i := strings.IndexAny(data, "\r\n")
		buf.WriteString("data: ")
		if i < 0 {
			buf.WriteString(data)
			buf.WriteByte('\n')
			break
		}
		buf.WriteString(data[:i])
		buf.WriteByte('\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	buf.WriteByte('\n')
}
