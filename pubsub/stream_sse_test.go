package pubsub

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// newStreamSSE returns a handler of the stream named name under the test's
// prefix. Its hub waits 200 ms at most, not 2 s, so that it stops soon
// after its last client.
func newStreamSSE(t testing.TB, rdb redis.UniversalClient, prefix, name string, o StreamSSEOptions) http.Handler {
	t.Helper()
	o.Stream.Prefix = prefix + "stream:"
	if o.Stream.Block == 0 {
		o.Stream.Block = 200 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	h, err := NewStreamSSE(rdb, func(*http.Request) (string, error) { return name, nil }, o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// streamServer serves h and, when the test ends, waits for the hubs its
// handlers started to stop, before the test's clients are closed.
func streamServer(t *testing.T, h http.Handler) (*httptest.Server, chan struct{}) {
	t.Helper()
	done := make(chan struct{}, 64)
	srv := httptest.NewServer(tracked(h, done))
	t.Cleanup(func() {
		srv.Close()
		redistest.Eventually(t, "the stream readers to stop", func() bool { return hubsRunning() == 0 })
	})
	return srv, done
}

// hubsRunning counts the goroutines running a hub's read loop.
func hubsRunning() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "pubsub.(*hub).run(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// lastEventID says how a request carries its Last-Event-ID.
type lastIDVia int

const (
	viaHeader lastIDVia = iota
	viaQuery
)

// get sends a stream request with Last-Event-ID lastID (none if empty)
// and returns the response; the request ends when the test does or
// cancel is called.
func get(t *testing.T, srvURL, lastID string, via lastIDVia) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	u := srvURL
	if lastID != "" && via == viaQuery {
		u += "?" + LastEventIDParam + "=" + url.QueryEscape(lastID)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if lastID != "" && via == viaHeader {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return resp, cancel
}

// connectStream opens a stream; it returns once the handler has answered,
// which it does once it knows where the client starts.
func connectStream(t *testing.T, srvURL, lastID string, via lastIDVia) *sseClient {
	t.Helper()
	resp, cancel := get(t, srvURL, lastID, via)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	return &sseClient{resp: resp, rd: bufio.NewReader(resp.Body), cancel: cancel}
}

// expectEvents reads one event per ID and checks it is that entry, of the
// order numbered firstOrder + its place, in order.
func (c *sseClient) expectEvents(t *testing.T, name string, ids []string, firstOrder int) {
	t.Helper()
	for i, id := range ids {
		ev := c.nextEvent(t, false)
		want := event{id: id, name: name, data: fmt.Sprintf(`{"id":%d}`, firstOrder+i)}
		if ev != want {
			t.Fatalf("event %d: got %+v, want %+v", i, ev, want)
		}
	}
}

func waitDone(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: handler still running", what)
	}
}

// testStreamReconnect is the promise of the stream SSE handler: a client
// that disconnects while 100 entries are appended reconnects with the ID
// of the last event it got and receives exactly those 100, in order, then
// the live ones.
func testStreamReconnect(t *testing.T, rdb redis.UniversalClient, prefix string, via lastIDVia) {
	s := newStream[order](t, rdb, prefix, "feed", StreamOptions{})
	srv, done := streamServer(t, newStreamSSE(t, rdb, prefix, "feed", StreamSSEOptions{Heartbeat: -1}))
	c := connectStream(t, srv.URL, "", via)
	first := appendN(t, s, 0, 1)
	c.expectEvents(t, "feed", first, 0)

	c.cancel()
	waitDone(t, done, "after the client left")
	missed := appendN(t, s, 1, 100)

	c = connectStream(t, srv.URL, first[0], via)
	c.expectEvents(t, "feed", missed, 1)
	live := appendN(t, s, 101, 3)
	c.expectEvents(t, "feed", live, 101)
}

func TestStreamSSEReconnect(t *testing.T) {
	for _, via := range []lastIDVia{viaHeader, viaQuery} {
		t.Run(map[lastIDVia]string{viaHeader: "header", viaQuery: "query"}[via], func(t *testing.T) {
			b := redistest.Start(t)
			testStreamReconnect(t, b.Client(), b.Prefix, via)
		})
	}
	t.Run("header wins over query", func(t *testing.T) {
		b := redistest.Start(t)
		rdb := b.Client()
		s := newStream[order](t, rdb, b.Prefix, "feed", StreamOptions{})
		ids := appendN(t, s, 0, 3)
		srv, _ := streamServer(t, newStreamSSE(t, rdb, b.Prefix, "feed", StreamSSEOptions{Heartbeat: -1}))
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"?"+LastEventIDParam+"="+ids[0], nil)
		req.Header.Set("Last-Event-ID", ids[1])
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		c := &sseClient{resp: resp, rd: bufio.NewReader(resp.Body), cancel: cancel}
		c.expectEvents(t, "feed", ids[2:], 2)
	})
}

// TestStreamSSESeam: a client resuming while entries keep coming gets each
// entry once, in order: none lost or repeated where the replay from Redis
// hands over to the live feed. Small pages make the replay long.
func TestStreamSSESeam(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	s := newStream[order](t, rdb, b.Prefix, "seam", StreamOptions{})
	h := newStreamSSE(t, rdb, b.Prefix, "seam", StreamSSEOptions{Heartbeat: -1, Stream: StreamOptions{Count: 3}})
	srv, _ := streamServer(t, h)
	// Another client keeps the live feed running meanwhile.
	other := connectStream(t, srv.URL, "", viaHeader)
	from := appendN(t, s, 0, 30)

	const total = 200
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		w := newStream[order](t, b.Client(), b.Prefix, "seam", StreamOptions{})
		for i := 30; i < total; i++ {
			if _, err := w.Append(context.Background(), order{ID: i}); err != nil {
				errc <- err
				return
			}
		}
	}()
	c := connectStream(t, srv.URL, from[9], viaHeader)
	last := ""
	for want := 10; want < total; want++ {
		ev := c.nextEvent(t, false)
		if ev.data != fmt.Sprintf(`{"id":%d}`, want) {
			t.Fatalf("after %d (id %s) got %+v", want-1, last, ev)
		}
		a, _ := parseStreamID(last)
		if id, ok := parseStreamID(ev.id); !ok || (last != "" && id.compare(a) <= 0) {
			t.Fatalf("id %q after %q", ev.id, last)
		}
		last = ev.id
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	for i := 0; i < total; i++ {
		if ev := other.nextEvent(t, false); ev.data != fmt.Sprintf(`{"id":%d}`, i) {
			t.Fatalf("the live client's event %d: %+v", i, ev)
		}
	}
}

// TestStreamSSEReset: a client whose entries may be gone gets the reset
// event, carrying the stream's last ID, and then the live entries.
func TestStreamSSEReset(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	tests := []struct {
		name string
		// prepare appends and loses entries; it returns the client's
		// Last-Event-ID and the ID the reset must carry.
		prepare func(t *testing.T, s *Stream[order]) (lastID, resetID string)
	}{
		{"trimmed away", func(t *testing.T, s *Stream[order]) (string, string) {
			ids := appendN(t, s, 0, 250)
			return ids[0], ids[249]
		}},
		{"key expired", func(t *testing.T, s *Stream[order]) (string, string) {
			ids := appendN(t, s, 0, 3)
			if err := rdb.Del(ctx, s.Key()).Err(); err != nil { // as its expiry does
				t.Fatal(err)
			}
			return ids[1], "0-0"
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("reset%d", i)
			s := newStream[order](t, rdb, b.Prefix, name, StreamOptions{MaxLen: 10, Count: 5})
			lastID, resetID := tt.prepare(t, s)
			h := newStreamSSE(t, rdb, b.Prefix, name, StreamSSEOptions{Heartbeat: -1, Stream: StreamOptions{MaxLen: 10, Count: 5}})
			srv, _ := streamServer(t, h)
			c := connectStream(t, srv.URL, lastID, viaHeader)
			want := event{id: resetID, name: "reset", data: `"` + resetID + `"`}
			if ev := c.nextEvent(t, false); ev != want {
				t.Fatalf("got %+v, want %+v", ev, want)
			}
			live := appendN(t, s, 1000, 2)
			c.expectEvents(t, name, live, 1000)
		})
	}
}

// TestStreamSSERefusals: what cannot be streamed is refused before the
// stream opens, with a generic body: a bad Last-Event-ID (malformed, out
// of range, absurdly long, or beyond the last ID) with 400, Redis down
// with 503.
func TestStreamSSERefusals(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	s := newStream[order](t, rdb, b.Prefix, "feed", StreamOptions{})
	last, _ := parseStreamID(appendN(t, s, 0, 1)[0])
	future, _ := last.next()
	var got error
	h := newStreamSSE(t, rdb, b.Prefix, "feed", StreamSSEOptions{})
	srv, _ := streamServer(t, h)
	observed, err := NewStreamSSE(rdb, func(*http.Request) (string, error) { return "feed", nil }, StreamSSEOptions{
		Stream: StreamOptions{Prefix: b.Prefix + "stream:"},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			w.WriteHeader(http.StatusTeapot)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{
		"abc", "1", "1-", "-1", "1-2-3", "+1-0", "1-0 x", "0x10-0", "$", "*", "-", "+",
		"18446744073709551616-0", "1-18446744073709551616",
		strings.Repeat("1", 5000) + "-0",
		future.String(),
		"18446744073709551615-18446744073709551615",
	} {
		for _, via := range []lastIDVia{viaHeader, viaQuery} {
			t.Run(fmt.Sprintf("%.30s/%d", id, via), func(t *testing.T) {
				resp, _ := get(t, srv.URL, id, via)
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("status %d, want 400", resp.StatusCode)
				}
				if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/event-stream") {
					t.Fatal("refused with a stream's Content-Type")
				}
				w := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.Header.Set("Last-Event-ID", id)
				observed.ServeHTTP(w, r)
				if w.Code != http.StatusTeapot || !errors.Is(got, ErrInvalidID) {
					t.Fatalf("ErrorHandler: status %d, err %v; want ErrInvalidID", w.Code, got)
				}
			})
		}
	}

	errBad := errors.New("no such room")
	p := b.NewProxy()
	down := b.ClientAt(p.Addr())
	p.Down()
	for _, tt := range []struct {
		name   string
		rdb    redis.UniversalClient
		stream func(*http.Request) (string, error)
		want   int
	}{
		{"stream function error", rdb, func(*http.Request) (string, error) { return "", errBad }, http.StatusBadRequest},
		{"empty name", rdb, func(*http.Request) (string, error) { return "", nil }, http.StatusBadRequest},
		{"name too long", rdb, func(*http.Request) (string, error) { return strings.Repeat("x", 300), nil }, http.StatusBadRequest},
		{"redis down", down, func(*http.Request) (string, error) { return "feed", nil }, http.StatusServiceUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewStreamSSE(tt.rdb, tt.stream, StreamSSEOptions{Logger: quietLogger(), Stream: StreamOptions{Prefix: b.Prefix}})
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d", w.Code, tt.want)
			}
			if body := w.Body.String(); strings.Contains(body, "room") || strings.Contains(body, "pubsub") {
				t.Fatalf("error text leaked to the client: %q", body)
			}
		})
	}
}

func TestNewStreamSSEValidates(t *testing.T) {
	rdb, _ := redistest.New(t)
	fn := func(*http.Request) (string, error) { return "s", nil }
	for _, tt := range []struct {
		name string
		rdb  redis.UniversalClient
		fn   func(*http.Request) (string, error)
		o    StreamSSEOptions
	}{
		{"nil client", nil, fn, StreamSSEOptions{}},
		{"nil func", rdb, nil, StreamSSEOptions{}},
		{"negative Backlog", rdb, fn, StreamSSEOptions{Backlog: -1}},
		{"Backlog above Count", rdb, fn, StreamSSEOptions{Backlog: 101}},
		{"negative Buffer", rdb, fn, StreamSSEOptions{Buffer: -1}},
		{"negative Retry", rdb, fn, StreamSSEOptions{Retry: -1}},
		{"bad stream options", rdb, fn, StreamSSEOptions{Stream: StreamOptions{Count: -1}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewStreamSSE(tt.rdb, tt.fn, tt.o); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestStreamSSEBacklog: a client without Last-Event-ID gets the newest
// Backlog entries first, then the live ones.
func TestStreamSSEBacklog(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	s := newStream[order](t, rdb, b.Prefix, "feed", StreamOptions{})
	ids := appendN(t, s, 0, 5)
	srv, _ := streamServer(t, newStreamSSE(t, rdb, b.Prefix, "feed", StreamSSEOptions{Backlog: 3, Heartbeat: -1}))
	c := connectStream(t, srv.URL, "", viaHeader)
	c.expectEvents(t, "feed", ids[2:], 2)
	live := appendN(t, s, 5, 1)
	c.expectEvents(t, "feed", live, 5)
	// "0-0" asks for everything held.
	all := connectStream(t, srv.URL, "0-0", viaQuery)
	all.expectEvents(t, "feed", append(ids, live...), 0)
}

// TestStreamSSEOneReadForAll: however many clients follow a stream, one
// connection reads it: a burst of entries costs the handler one or two
// XREADs (and one more per Block that passes), not one per entry nor one
// per client.
func TestStreamSSEOneReadForAll(t *testing.T) {
	b := redistest.Start(t)
	writer := b.Client()
	reader := b.Client()
	warm(t, reader)
	k := redistest.Count(reader)
	s := newStream[order](t, writer, b.Prefix, "feed", StreamOptions{})
	const block = 2 * time.Second
	srv, _ := streamServer(t, newStreamSSE(t, reader, b.Prefix, "feed", StreamSSEOptions{Heartbeat: -1, Stream: StreamOptions{Block: block}}))
	const clients, events = 20, 50
	cs := make([]*sseClient, clients)
	for i := range cs {
		cs[i] = connectStream(t, srv.URL, "", viaHeader)
	}
	redistest.Eventually(t, "the live reader to wait", func() bool { return slices.Contains(k.Commands(), "xread") })
	k.Reset()
	start := time.Now()
	// One transaction: the entries land at once, whatever the machine's
	// speed, so a reader that reads a batch at a time gets them together.
	cmds, err := writer.TxPipelined(context.Background(), func(p redis.Pipeliner) error {
		for i := range events {
			p.XAdd(context.Background(), &redis.XAddArgs{Stream: s.Key(), Values: []any{"d", fmt.Sprintf(`{"id":%d}`, i)}})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, events)
	for i := range ids {
		ids[i] = cmds[i].(*redis.StringCmd).Val()
	}
	for _, c := range cs {
		c.expectEvents(t, "feed", ids, 0)
	}
	xreads := 0
	for _, c := range k.Commands() {
		if c == "xread" {
			xreads++
		}
	}
	allowed := 2 + int(time.Since(start)/block)
	t.Logf("%d events to %d clients: %d XREADs (%d round trips: %v)", events, clients, xreads, k.N(), k.Commands())
	if xreads > allowed || k.N() > int64(allowed) || xreads >= events {
		t.Fatalf("%d events to %d clients took %d XREADs, %d round trips (%v); want at most %d", events, clients, xreads, k.N(), k.Commands(), allowed)
	}
	for _, c := range cs {
		c.cancel()
	}
}

// TestStreamSSESlowClientCatchesUp: a client that falls behind its buffer
// is not cut off and loses nothing: it catches up from Redis.
func TestStreamSSESlowClientCatchesUp(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	s := newStream[order](t, rdb, b.Prefix, "feed", StreamOptions{})
	h := newStreamSSE(t, rdb, b.Prefix, "feed", StreamSSEOptions{Heartbeat: -1, Buffer: 2, Stream: StreamOptions{Count: 3}})
	gate := make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	defer release() // even on failure, so the server can shut down
	gated := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&gateWriter{ResponseWriter: w, gate: gate}, r)
	})
	srv, _ := streamServer(t, gated)
	c := connectStream(t, srv.URL, "", viaHeader)
	ids := appendN(t, s, 0, 40)
	release()
	c.expectEvents(t, "feed", ids, 0)
	live := appendN(t, s, 40, 2)
	c.expectEvents(t, "feed", live, 40)
}

// TestStreamSSEEndsAndCleansUp: clients that leave end their handlers at
// once, the live reader stops within Block of the last one, and nothing
// is left running.
func TestStreamSSEEndsAndCleansUp(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	warm(t, rdb)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	baseline := runtime.NumGoroutine()
	srv, done := streamServer(t, newStreamSSE(t, rdb, b.Prefix, "feed", StreamSSEOptions{Heartbeat: 5 * time.Millisecond}))
	defer srv.Close()
	var cancels []context.CancelFunc
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		c := &sseClient{resp: resp, rd: bufio.NewReader(resp.Body), cancel: cancel}
		if ev := c.nextEvent(t, true); ev.comment != "heartbeat" {
			t.Fatalf("got %+v, want a heartbeat", ev)
		}
	}
	if n := hubsRunning(); n != 1 {
		t.Fatalf("%d live readers for 3 clients of one stream, want 1", n)
	}
	for _, cancel := range cancels {
		cancel()
		waitDone(t, done, "after its client left")
	}
	redistest.Eventually(t, "the live reader to stop", func() bool { return hubsRunning() == 0 })
	srv.Close()
	tr.CloseIdleConnections()
	redistest.Eventually(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseline })
}

// TestStreamSSEWaitsOutRedis: while the live reader cannot reach Redis,
// clients stay connected, and they get what was appended meanwhile.
func TestStreamSSEWaitsOutRedis(t *testing.T) {
	b := redistest.Start(t)
	direct := b.Client()
	p := b.NewProxy()
	s := newStream[order](t, direct, b.Prefix, "feed", StreamOptions{})
	srv, done := streamServer(t, newStreamSSE(t, b.ClientAt(p.Addr()), b.Prefix, "feed", StreamSSEOptions{Heartbeat: -1}))
	c := connectStream(t, srv.URL, "", viaHeader)
	first := appendN(t, s, 0, 1)
	c.expectEvents(t, "feed", first, 0)
	p.Down()
	missed := appendN(t, s, 1, 5)
	select {
	case <-done:
		t.Fatal("the stream ended while Redis was unreachable")
	default:
	}
	p.Up()
	c.expectEvents(t, "feed", missed, 1)
}

// expectResetsUntil reads events until the reset carrying lastID, and
// checks that every event follows the one before it: the next order, or a
// reset, after which an event may skip ahead (but never back). It returns
// the number of resets.
func (c *sseClient) expectResetsUntil(t *testing.T, lastID string) int {
	t.Helper()
	resets, next, prev := 0, 0, streamID{}
	for {
		ev := c.nextEvent(t, false)
		id, ok := parseStreamID(ev.id)
		if !ok || (prev != streamID{} && id.compare(prev) <= 0) {
			t.Fatalf("event %+v after id %v", ev, prev)
		}
		prev = id
		if ev.name == "reset" {
			if ev.data != `"`+ev.id+`"` {
				t.Fatalf("reset %+v", ev)
			}
			resets++
			if ev.id == lastID {
				return resets
			}
			next = -1 // anything later may follow
			continue
		}
		var n int
		if _, err := fmt.Sscanf(ev.data, `{"id":%d}`, &n); err != nil || (next >= 0 && n != next) || n < 0 {
			t.Fatalf("event %+v, want order %d", ev, next)
		}
		next = n + 1
	}
}

// TestStreamSSEResetWhenTooFarBehind: what falls out of the stream before
// a client could get it ends in a reset, never in silent loss: for a
// client too slow to keep up, and for all clients when the live reader
// lost Redis for longer than the stream keeps entries.
func TestStreamSSEResetWhenTooFarBehind(t *testing.T) {
	small := StreamOptions{MaxLen: 10, Count: 5}
	t.Run("slow client", func(t *testing.T) {
		b := redistest.Start(t)
		rdb := b.Client()
		s := newStream[order](t, rdb, b.Prefix, "feed", small)
		h := newStreamSSE(t, rdb, b.Prefix, "feed", StreamSSEOptions{Heartbeat: -1, Buffer: 2, Stream: small})
		gate := make(chan struct{})
		release := sync.OnceFunc(func() { close(gate) })
		defer release()
		srv, _ := streamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(&gateWriter{ResponseWriter: w, gate: gate}, r)
		}))
		c := connectStream(t, srv.URL, "", viaHeader)
		ids := appendN(t, s, 0, 250)
		release()
		if n := c.expectResetsUntil(t, ids[249]); n < 1 {
			t.Fatal("no reset")
		}
		live := appendN(t, s, 250, 2)
		c.expectEvents(t, "feed", live, 250)
	})
	t.Run("live reader cut off", func(t *testing.T) {
		b := redistest.Start(t)
		direct := b.Client()
		p := b.NewProxy()
		s := newStream[order](t, direct, b.Prefix, "feed", small)
		srv, done := streamServer(t, newStreamSSE(t, b.ClientAt(p.Addr()), b.Prefix, "feed", StreamSSEOptions{Heartbeat: -1, Stream: small}))
		c := connectStream(t, srv.URL, "", viaHeader)
		c.expectEvents(t, "feed", appendN(t, s, 0, 1), 0)
		p.Down()
		ids := appendN(t, s, 1, 250)
		p.Up()
		want := event{id: ids[249], name: "reset", data: `"` + ids[249] + `"`}
		if ev := c.nextEvent(t, false); ev != want {
			t.Fatalf("after the outage: %+v, want %+v", ev, want)
		}
		live := appendN(t, s, 251, 2)
		c.expectEvents(t, "feed", live, 251)
		select {
		case <-done:
			t.Fatal("a handler ended")
		default:
		}
	})
}
