package pubsub

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/httpwrap"
	"github.com/redisware/redisware/internal/redistest"
)

type event struct {
	id      string
	name    string
	data    string
	comment string
}

// readEvent reads one event, or one comment line, from an SSE stream.
func readEvent(rd *bufio.Reader) (event, error) {
	var ev event
	var data []string
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.comment != "" || data != nil || ev.name != "" || ev.id != "" {
				ev.data = strings.Join(data, "\n")
				return ev, nil
			}
		case strings.HasPrefix(line, ":"):
			ev.comment = strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "id: "):
			ev.id = line[len("id: "):]
		case strings.HasPrefix(line, "event: "):
			ev.name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[len("data: "):])
		}
	}
}

type sseClient struct {
	resp   *http.Response
	rd     *bufio.Reader
	cancel context.CancelFunc
}

// connect opens the stream; it returns once the handler has answered,
// which it does only after Redis confirmed the subscription.
func connect(t *testing.T, url string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	return &sseClient{resp: resp, rd: bufio.NewReader(resp.Body), cancel: cancel}
}

// nextEvent skips heartbeats unless wantComment.
func (c *sseClient) nextEvent(t *testing.T, wantComment bool) event {
	t.Helper()
	type res struct {
		ev  event
		err error
	}
	ch := make(chan res, 1)
	go func() {
		for {
			ev, err := readEvent(c.rd)
			if err != nil || wantComment || ev.comment == "" {
				ch <- res{ev, err}
				return
			}
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("reading the stream: %v", r.err)
		}
		return r.ev
	case <-time.After(30 * time.Second):
		t.Fatal("no event within 30 s")
		return event{}
	}
}

// tracked wraps h and closes done when a request's handler returns.
func tracked(h http.Handler, done chan<- struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		h.ServeHTTP(w, r)
	})
}

func newSSE(t *testing.T, rdb redis.UniversalClient, channels []string, o SSEOptions) http.Handler {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	h, err := NewSSE(rdb, func(*http.Request) ([]string, error) { return channels, nil }, o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSSEEndToEnd(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	orders, users := b.Prefix+"orders", b.Prefix+"users"
	h := newSSE(t, rdb, []string{orders, users}, SSEOptions{Heartbeat: -1, Retry: 1500 * time.Millisecond})
	// Through a wrapping middleware: flushing must reach the real writer.
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(httpwrap.New(w, httpwrap.Options{}), r)
	})
	srv := httptest.NewServer(wrapped)
	t.Cleanup(srv.Close)
	c := connect(t, srv.URL)
	if cc := c.resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Fatalf("Cache-Control %q", cc)
	}
	line, err := c.rd.ReadString('\n')
	if err != nil || line != "retry: 1500\n" {
		t.Fatalf("first line %q, %v", line, err)
	}

	tests := []struct {
		name    string
		publish func() error
		want    event
	}{
		{"typed value", func() error { return Publish(ctx, rdb, orders, order{ID: 7}) }, event{name: orders, data: `{"id":7}`}},
		{"other channel", func() error { return Publish(ctx, rdb, users, "ann") }, event{name: users, data: `"ann"`}},
		{"multi-line JSON", func() error { return rdb.Publish(ctx, orders, "{\n  \"id\": 8\r\n}").Err() },
			event{name: orders, data: "{\n  \"id\": 8\n}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.publish(); err != nil {
				t.Fatal(err)
			}
			if got := c.nextEvent(t, false); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("non-JSON payload skipped", func(t *testing.T) {
		if err := rdb.Publish(ctx, orders, "oops").Err(); err != nil {
			t.Fatal(err)
		}
		if err := Publish(ctx, rdb, orders, 1); err != nil {
			t.Fatal(err)
		}
		if got := c.nextEvent(t, false); got.data != "1" {
			t.Fatalf("got %+v, want the message after the bad one", got)
		}
	})
}

func TestSSEHeartbeat(t *testing.T) {
	b := redistest.Start(t)
	h := newSSE(t, b.Client(), []string{b.Prefix + "quiet"}, SSEOptions{Heartbeat: 5 * time.Millisecond})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := connect(t, srv.URL)
	for i := 0; i < 2; i++ {
		if ev := c.nextEvent(t, true); ev.comment != "heartbeat" {
			t.Fatalf("got %+v, want a heartbeat comment", ev)
		}
	}
}

func TestSSEClientDisconnect(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ch := b.Prefix + "c"
	done := make(chan struct{}, 1)
	srv := httptest.NewServer(tracked(newSSE(t, rdb, []string{ch}, SSEOptions{}), done))
	t.Cleanup(srv.Close)
	c := connect(t, srv.URL)
	if n := numSub(t, rdb, ch); n != 1 {
		t.Fatalf("NUMSUB = %d while streaming", n)
	}
	c.cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("handler still running after the client left")
	}
	redistest.Eventually(t, "subscription released", func() bool { return numSub(t, rdb, ch) == 0 })
}

// gateWriter blocks every body write until gate is closed: a client whose
// network does not take data. (The stream opens with a header flush, which
// is not a Write.)
type gateWriter struct {
	http.ResponseWriter
	gate <-chan struct{}
}

func (g *gateWriter) Write(p []byte) (int, error) {
	<-g.gate
	return g.ResponseWriter.Write(p)
}

func (g *gateWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

func TestSSESlowClientCutOff(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	ch := b.Prefix + "fast"
	slow := make(chan struct{}, 1)
	h := newSSE(t, rdb, []string{ch}, SSEOptions{
		Buffer:       2,
		Heartbeat:    -1,
		OnSlowClient: func(*http.Request) { slow <- struct{}{} },
	})
	gate := make(chan struct{})
	release := func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	}
	defer release() // even on failure, so the server can shut down
	done := make(chan struct{}, 1)
	srv := httptest.NewServer(tracked(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&gateWriter{ResponseWriter: w, gate: gate}, r)
	}), done))
	t.Cleanup(srv.Close)
	c := connect(t, srv.URL)

	// At most one message is being written (stalled), two fill the
	// buffer, so the fourth overflows it at the latest.
	for i := 0; i < 4; i++ {
		if err := Publish(ctx, rdb, ch, i); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-slow:
	case <-time.After(30 * time.Second):
		t.Fatal("slow client not detected")
	}
	release()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("handler did not end")
	}
	// The client sees the end of the stream after at most what was
	// already being written.
	rest, err := io.ReadAll(c.rd)
	if err != nil {
		t.Fatalf("reading to the end: %v", err)
	}
	if n := bytes.Count(rest, []byte("event: ")); n > 1 {
		t.Fatalf("client got %d events after the cut-off, want at most 1:\n%s", n, rest)
	}
	redistest.Eventually(t, "subscription released", func() bool { return numSub(t, rdb, ch) == 0 })
}

func TestSSERefusals(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	p := b.NewProxy()
	down := b.ClientAt(p.Addr())
	p.Down()
	errBad := errors.New("unknown topic")
	tests := []struct {
		name     string
		rdb      redis.UniversalClient
		channels func(*http.Request) ([]string, error)
		want     int
	}{
		{"channels error", rdb, func(*http.Request) ([]string, error) { return nil, errBad }, http.StatusBadRequest},
		{"no channels", rdb, func(*http.Request) ([]string, error) { return nil, nil }, http.StatusBadRequest},
		{"redis down", down, func(*http.Request) ([]string, error) { return []string{b.Prefix + "x"}, nil }, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewSSE(tt.rdb, tt.channels, SSEOptions{Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/events", nil))
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d", w.Code, tt.want)
			}
			if body := w.Body.String(); strings.Contains(body, "unknown topic") || strings.Contains(body, "refused") {
				t.Fatalf("error text leaked to the client: %q", body)
			}
		})
	}
	t.Run("custom ErrorHandler", func(t *testing.T) {
		var got error
		h, err := NewSSE(rdb, func(*http.Request) ([]string, error) { return nil, errBad }, SSEOptions{
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				got = err
				w.WriteHeader(http.StatusForbidden)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/events", nil))
		if w.Code != http.StatusForbidden || !errors.Is(got, errBad) {
			t.Fatalf("status %d, err %v", w.Code, got)
		}
	})
}

func TestNewSSEValidates(t *testing.T) {
	rdb, _ := redistest.New(t)
	fn := func(*http.Request) ([]string, error) { return nil, nil }
	tests := []struct {
		name string
		rdb  redis.UniversalClient
		fn   func(*http.Request) ([]string, error)
		o    SSEOptions
	}{
		{"nil client", nil, fn, SSEOptions{}},
		{"nil func", rdb, nil, SSEOptions{}},
		{"negative buffer", rdb, fn, SSEOptions{Buffer: -1}},
		{"negative retry", rdb, fn, SSEOptions{Retry: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewSSE(tt.rdb, tt.fn, tt.o); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestWriteEvent(t *testing.T) {
	tests := []struct {
		name, event, data, want string
	}{
		{"plain", "orders", `{"id":1}`, "event: orders\ndata: {\"id\":1}\n\n"},
		{"LF", "e", "a\nb", "event: e\ndata: a\ndata: b\n\n"},
		{"CRLF", "e", "a\r\nb", "event: e\ndata: a\ndata: b\n\n"},
		{"lone CR", "e", "a\rb", "event: e\ndata: a\ndata: b\n\n"},
		{"trailing newline", "e", "a\n", "event: e\ndata: a\ndata: \n\n"},
		{"empty", "e", "", "event: e\ndata: \n\n"},
		{"newline in event name", "a\r\nb", "1", "event: ab\ndata: 1\n\n"},
		{"no event name", "", "1", "data: 1\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			writeEvent(&buf, tt.event, tt.data)
			if got := buf.String(); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzWriteEvent(f *testing.F) {
	for _, s := range []string{"", "a", "a\nb", "a\r\nb\rc", "\n\n"} {
		f.Add("e", s)
	}
	f.Add("orders\n\ndata: forged\n\nevent: x", "1")
	f.Add("a\rb", "1")
	f.Fuzz(func(t *testing.T, name, data string) {
		var buf bytes.Buffer
		writeEvent(&buf, name, data)
		ev, err := readEvent(bufio.NewReader(&buf))
		if err != nil {
			t.Fatalf("unreadable event %q: %v", buf.String(), err)
		}
		want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(data)
		if ev.data != want {
			t.Fatalf("data %q came back as %q", want, ev.data)
		}
		// A channel name cannot add fields or events to the stream.
		if want := strings.NewReplacer("\r", "", "\n", "").Replace(name); ev.name != want {
			t.Fatalf("event name %q came back as %q", want, ev.name)
		}
		if rest := buf.Len(); rest != 0 {
			t.Fatalf("%d bytes left after one event", rest)
		}
	})
}
