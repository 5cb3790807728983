package pubsub

import (
	"context"
	"errors"
	"iter"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// newStream returns a stream under the test's prefix. Readers wait 100 ms
// at most (not 2 s) so that tests that end them wait no longer.
func newStream[T any](t testing.TB, rdb redis.UniversalClient, prefix, name string, o StreamOptions) *Stream[T] {
	t.Helper()
	o.Prefix = prefix + "stream:"
	if o.Block == 0 {
		o.Block = 100 * time.Millisecond
	}
	s, err := NewStream[T](rdb, name, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// appendN appends orders first..first+n-1 and returns their IDs.
func appendN(t testing.TB, s *Stream[order], first, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := first; i < first+n; i++ {
		id, err := s.Append(context.Background(), order{ID: i})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

type entryResult[T any] struct {
	e   Entry[T]
	err error
}

// collectEntries ranges over seq in a goroutine and forwards what it
// yields until ctx ends; done closes when the loop has ended.
func collectEntries[T any](ctx context.Context, seq iter.Seq2[Entry[T], error]) (<-chan entryResult[T], <-chan struct{}) {
	out := make(chan entryResult[T], 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e, err := range seq {
			select {
			case out <- entryResult[T]{e, err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, done
}

// readEntries reads s after `after` until the test ends, and waits for
// the reader to end before the test's clients are closed.
func readEntries[T any](t testing.TB, s *Stream[T], after string) <-chan entryResult[T] {
	ctx, cancel := context.WithCancel(context.Background())
	ch, done := collectEntries(ctx, s.Read(ctx, after))
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ch
}

// warm opens the connections a reader uses, a pooled one and one of the
// pipeline pool, so that a goroutine count taken afterwards holds them.
func warm(t testing.TB, rdb redis.UniversalClient) {
	t.Helper()
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error { p.Ping(ctx); return nil }); err != nil {
		t.Fatal(err)
	}
}

// blockedInXREAD reports whether the last round trip k counted is an
// XREAD: a reader waiting for entries.
func blockedInXREAD(k *redistest.Counter) func() bool {
	return func() bool {
		cmds := k.Commands()
		return len(cmds) > 0 && cmds[len(cmds)-1] == "xread"
	}
}

func nextEntry[T any](t testing.TB, ch <-chan entryResult[T]) entryResult[T] {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no entry within 30 s")
		return entryResult[T]{}
	}
}

// expectEntries reads len(ids) entries and checks they are the ones with
// those IDs, in order, each carrying the order numbered after its place.
func expectEntries(t testing.TB, ch <-chan entryResult[order], ids []string, firstOrder int) {
	t.Helper()
	for i, id := range ids {
		r := nextEntry(t, ch)
		if r.err != nil || r.e.ID != id || r.e.Data.ID != firstOrder+i {
			t.Fatalf("entry %d: got %+v, %v; want ID %s, order %d", i, r.e, r.err, id, firstOrder+i)
		}
	}
}

func TestNewStreamValidates(t *testing.T) {
	rdb, _ := redistest.New(t)
	tests := []struct {
		name string
		rdb  redis.UniversalClient
		s    string
		o    StreamOptions
	}{
		{"nil client", nil, "s", StreamOptions{}},
		{"empty name", rdb, "", StreamOptions{}},
		{"long name", rdb, strings.Repeat("n", 257), StreamOptions{}},
		{"negative MaxLen", rdb, "s", StreamOptions{MaxLen: -1}},
		{"TTL below 1 ms", rdb, "s", StreamOptions{TTL: time.Microsecond}},
		{"negative TTL", rdb, "s", StreamOptions{TTL: -time.Second}},
		{"negative Block", rdb, "s", StreamOptions{Block: -1}},
		{"negative Count", rdb, "s", StreamOptions{Count: -1}},
		{"Count above MaxLen", rdb, "s", StreamOptions{MaxLen: 10, Count: 11}},
		{"default Count above MaxLen", rdb, "s", StreamOptions{MaxLen: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewStream[int](tt.rdb, tt.s, tt.o); err == nil {
				t.Fatal("no error")
			}
		})
	}
	s, err := NewStream[int](rdb, "orders", StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Key() != "pubsub:stream:orders" || s.Name() != "orders" {
		t.Fatalf("key %q name %q", s.Key(), s.Name())
	}
}

// TestStreamAppend: one round trip per append, an expiry on the key set
// again by each, entries read back in order with their IDs.
func TestStreamAppend(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	s := newStream[order](t, rdb, b.Prefix, "orders", StreamOptions{TTL: time.Hour})
	if err := rdb.Ping(ctx).Err(); err != nil { // the connection's set-up is not the append's
		t.Fatal(err)
	}
	k := redistest.Count(rdb)
	ids := appendN(t, s, 0, 3)
	if n := k.N(); n != 3 {
		t.Fatalf("3 appends took %d round trips: %v", n, k.Commands())
	}
	if c := k.Commands()[0]; !strings.Contains(c, "xadd") || !strings.Contains(c, "pexpire") {
		t.Fatalf("append sent %s", c)
	}
	ttl, err := rdb.PTTL(ctx, s.Key()).Result()
	if err != nil || ttl <= 0 || ttl > time.Hour {
		t.Fatalf("PTTL %v, %v; want (0, 1h]", ttl, err)
	}
	// Shorten the expiry: the next append sets it again.
	if err := rdb.PExpire(ctx, s.Key(), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, appendN(t, s, 3, 1)...)
	if ttl, err := rdb.PTTL(ctx, s.Key()).Result(); err != nil || ttl <= time.Minute {
		t.Fatalf("PTTL %v, %v after an append; want it set back near 1 h", ttl, err)
	}
	for i := 1; i < len(ids); i++ {
		a, _ := parseStreamID(ids[i-1])
		c, ok := parseStreamID(ids[i])
		if !ok || a.compare(c) >= 0 {
			t.Fatalf("IDs out of order: %v", ids)
		}
	}
	expectEntries(t, readEntries(t, s, "0-0"), ids, 0)

	if _, err := s.Append(ctx, order{ID: 1, Items: []string{string([]byte{0xff})}}); err != nil {
		t.Fatalf("an invalid UTF-8 string is JSON-encoded, not refused: %v", err)
	}
	bad, err := NewStream[func()](rdb, "f", StreamOptions{Prefix: b.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Append(ctx, func() {}); err == nil {
		t.Fatal("appending a func: no error")
	}
}

// TestStreamTrims: appends keep the stream near MaxLen. Real Redis trims
// whole nodes of 100 entries (MAXLEN ~), miniredis exactly.
func TestStreamTrims(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	s := newStream[order](t, rdb, b.Prefix, "t", StreamOptions{MaxLen: 10, Count: 5})
	appendN(t, s, 0, 250)
	n, err := rdb.XLen(context.Background(), s.Key()).Result()
	if err != nil || n < 10 || n > 10+100 {
		t.Fatalf("XLEN %d, %v after 250 appends with MaxLen 10; want 10 to 110", n, err)
	}
	t.Logf("XLEN after 250 appends, MaxLen 10: %d", n)
}

// TestStreamReadBatches: a reader that finds many entries waiting takes
// them in one XREAD, not one per entry, and blocks for the next on the
// same single command.
func TestStreamReadBatches(t *testing.T) {
	b := redistest.Start(t)
	writer := b.Client()
	reader := b.Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newStream[order](t, writer, b.Prefix, "burst", StreamOptions{})
	r := newStream[order](t, reader, b.Prefix, "burst", StreamOptions{})
	start := appendN(t, w, 0, 1)[0]
	burst := appendN(t, w, 1, 50)

	k := redistest.Count(reader)
	next, stop := iter.Pull2(r.Read(ctx, start))
	defer stop()
	for i, id := range burst {
		e, err, ok := next()
		if !ok || err != nil || e.ID != id || e.Data.ID != i+1 {
			t.Fatalf("entry %d: %+v, %v, %v", i, e, err, ok)
		}
	}
	xreads := 0
	for _, c := range k.Commands() {
		if c == "xread" {
			xreads++
		}
	}
	t.Logf("50 waiting entries: %d round trips (%v), %d XREAD", k.N(), k.Commands(), xreads)
	if xreads != 1 || k.N() != 2 {
		t.Fatalf("50 entries took %d XREADs in %d round trips (%v); want 1 in 2 (locate, read)", xreads, k.N(), k.Commands())
	}

	// Live: the reader is blocked in XREAD when the entry comes.
	got := make(chan Entry[order], 1)
	go func() {
		if e, err, ok := next(); ok && err == nil {
			got <- e
		}
		close(got)
	}()
	redistest.Eventually(t, "the reader to block in XREAD", func() bool {
		cmds := k.Commands()
		return len(cmds) > 2 && cmds[len(cmds)-1] == "xread"
	})
	id := appendN(t, w, 51, 1)[0]
	select {
	case e := <-got:
		if e.ID != id || e.Data.ID != 51 {
			t.Fatalf("live entry %+v, want %s", e, id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no live entry")
	}
}

func TestStreamReadFrom(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	tests := []struct {
		name  string
		after func(ids []string) string
		from  int // the index of the first entry read
	}{
		{"after an ID", func(ids []string) string { return ids[4] }, 5},
		{"after the last ID", func(ids []string) string { return ids[9] }, 10},
		{"0-0: everything", func([]string) string { return "0-0" }, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStream[order](t, rdb, b.Prefix, "from"+strconv.Itoa(i), StreamOptions{})
			ids := appendN(t, s, 0, 10)
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			next, stop := iter.Pull2(s.Read(rctx, tt.after(ids)))
			defer stop()
			for i := tt.from; i < len(ids); i++ {
				e, err, ok := next()
				if !ok || err != nil || e.ID != ids[i] || e.Data.ID != i {
					t.Fatalf("entry %d: %+v, %v, %v; want %s", i, e, err, ok, ids[i])
				}
			}
			// Then a live one: appended while the reader is between
			// reads, it is found by the next.
			live := appendN(t, s, 10, 1)[0]
			if e, err, ok := next(); !ok || err != nil || e.ID != live || e.Data.ID != 10 {
				t.Fatalf("live: %+v, %v, %v; want %s", e, err, ok, live)
			}
		})
	}
}

// TestStreamReadFromNow: Read("") yields what is appended after the loop
// started, not before.
func TestStreamReadFromNow(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	s := newStream[order](t, rdb, b.Prefix, "now", StreamOptions{})
	appendN(t, s, 0, 3)
	reader := b.Client()
	k := redistest.Count(reader)
	r := newStream[order](t, reader, b.Prefix, "now", StreamOptions{})
	ch := readEntries(t, r, "")
	redistest.Eventually(t, "the reader to wait", blockedInXREAD(k))
	ids := appendN(t, s, 3, 2)
	expectEntries(t, ch, ids, 3)
}

// TestStreamReadGone: entries after the ID to resume from are gone, or may
// be: Read says so once with ErrTrimmed and goes on with what the stream
// holds. An ID whose entry alone was deleted loses nothing.
func TestStreamReadGone(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()

	t.Run("trimmed", func(t *testing.T) {
		s := newStream[order](t, rdb, b.Prefix, "trimmed", StreamOptions{MaxLen: 10, Count: 5})
		ids := appendN(t, s, 0, 250)
		held, err := rdb.XRange(ctx, s.Key(), "-", "+").Result()
		if err != nil || len(held) >= 250 {
			t.Fatalf("held %d entries, %v: nothing trimmed", len(held), err)
		}
		ch := readEntries(t, s, ids[0])
		if r := nextEntry(t, ch); !errors.Is(r.err, ErrTrimmed) {
			t.Fatalf("first: %+v, %v; want ErrTrimmed", r.e, r.err)
		}
		expectEntries(t, ch, ids[250-len(held):], 250-len(held))
	})
	t.Run("key expired", func(t *testing.T) {
		s := newStream[order](t, rdb, b.Prefix, "expired", StreamOptions{})
		ids := appendN(t, s, 0, 3)
		if err := rdb.Del(ctx, s.Key()).Err(); err != nil { // as its expiry would
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		next, stop := iter.Pull2(s.Read(rctx, ids[1]))
		defer stop()
		if e, err, _ := next(); !errors.Is(err, ErrTrimmed) {
			t.Fatalf("first: %+v, %v; want ErrTrimmed", e, err)
		}
		id := appendN(t, s, 7, 1)[0]
		if e, err, _ := next(); err != nil || e.ID != id {
			t.Fatalf("then %+v, %v; want the new entry %s", e, err, id)
		}
	})
	t.Run("last entry deleted", func(t *testing.T) {
		s := newStream[order](t, rdb, b.Prefix, "deleted", StreamOptions{})
		ids := appendN(t, s, 0, 3)
		if err := rdb.XDel(ctx, s.Key(), ids[2]).Err(); err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		next, stop := iter.Pull2(s.Read(rctx, ids[2]))
		defer stop()
		id := appendN(t, s, 3, 1)[0]
		if e, err, _ := next(); err != nil || e.ID != id {
			t.Fatalf("got %+v, %v; want %s and no error", e, err, id)
		}
	})
	t.Run("emptied", func(t *testing.T) {
		s := newStream[order](t, rdb, b.Prefix, "emptied", StreamOptions{})
		ids := appendN(t, s, 0, 2)
		if err := rdb.XDel(ctx, s.Key(), ids...).Err(); err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		// ids[0] was followed by ids[1], deleted since.
		next, stop := iter.Pull2(s.Read(rctx, ids[0]))
		defer stop()
		if e, err, _ := next(); !errors.Is(err, ErrTrimmed) {
			t.Fatalf("after the first: %+v, %v; want ErrTrimmed", e, err)
		}
		// ids[1] was the last: nothing after it is gone. (The reader
		// must start before the next append, or it would find that entry
		// after a hole it cannot see into, and report the hole.)
		reader := b.Client()
		k := redistest.Count(reader)
		r := newStream[order](t, reader, b.Prefix, "emptied", StreamOptions{})
		ch := readEntries(t, r, ids[1])
		redistest.Eventually(t, "the reader to wait", blockedInXREAD(k))
		id := appendN(t, s, 2, 1)[0]
		if r := nextEntry(t, ch); r.err != nil || r.e.ID != id {
			t.Fatalf("after the last: %+v, %v; want %s", r.e, r.err, id)
		}
	})
}

func TestStreamReadInvalidID(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	s := newStream[order](t, rdb, b.Prefix, "ids", StreamOptions{})
	last, _ := parseStreamID(appendN(t, s, 0, 1)[0])
	future, _ := last.next()
	for _, after := range []string{"abc", "1-", "1", "-1-0", "18446744073709551616-0", strings.Repeat("9", 5000), future.String()} {
		n := 0
		for _, err := range s.Read(ctx, after) {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("Read(%.40q): %v; want ErrInvalidID", after, err)
			}
			if len(err.Error()) > 200 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			n++
		}
		if n != 1 {
			t.Fatalf("Read(%.40q) yielded %d times", after, n)
		}
	}
}

func TestStreamReadDecodeError(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newStream[order](t, rdb, b.Prefix, "foreign", StreamOptions{})
	for _, values := range []any{[]string{"d", "not json"}, []string{"other", "1"}} {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.Key(), Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	id := appendN(t, s, 5, 1)[0]
	ch := readEntries(t, s, "0-0")
	for _, want := range []string{"not json", ""} {
		r := nextEntry(t, ch)
		var de *DecodeError
		if !errors.As(r.err, &de) || de.Channel != "foreign" || r.e.Payload != want {
			t.Fatalf("got %+v, %v; want a DecodeError for %q", r.e, r.err, want)
		}
	}
	if r := nextEntry(t, ch); r.err != nil || r.e.ID != id || r.e.Data.ID != 5 {
		t.Fatalf("then %+v, %v", r.e, r.err)
	}
}

// TestStreamReadEndsWithContext: a reader blocked in XREAD ends within
// Block of its context ending, with a client that ignores contexts on the
// socket and with one that heeds deadlines (neither heeds a cancellation),
// and leaves no goroutine behind.
func TestStreamReadEndsWithContext(t *testing.T) {
	for _, ctxTimeout := range []bool{false, true} {
		t.Run(map[bool]string{false: "default client", true: "ContextTimeoutEnabled"}[ctxTimeout], func(t *testing.T) {
			b := redistest.Start(t)
			o := b.Options()
			o.ContextTimeoutEnabled = ctxTimeout
			rdb := redis.NewClient(o)
			defer rdb.Close()
			ctx := context.Background()
			warm(t, rdb)
			k := redistest.Count(rdb)
			baseline := runtime.NumGoroutine()
			s := newStream[order](t, rdb, b.Prefix, "quiet", StreamOptions{Block: 100 * time.Millisecond})
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			ch, done := collectEntries(rctx, s.Read(rctx, ""))
			redistest.Eventually(t, "the reader to block in XREAD", blockedInXREAD(k))
			cancel()
			redistest.Within(t, 10*time.Second, "Read after its context ended", func() { <-done })
			select {
			case r := <-ch:
				t.Fatalf("yielded %+v, %v after its context ended", r.e, r.err)
			default:
			}
			redistest.Eventually(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseline })
		})
	}
}

// TestStreamReadSurvivesOutage: entries appended while the reader cannot
// reach Redis reach it afterwards, all of them, in order; the outage is
// yielded as errors meanwhile. Pub/sub would have lost them.
func TestStreamReadSurvivesOutage(t *testing.T) {
	b := redistest.Start(t)
	direct := b.Client()
	p := b.NewProxy()
	w := newStream[order](t, direct, b.Prefix, "outage", StreamOptions{})
	r := newStream[order](t, b.ClientAt(p.Addr()), b.Prefix, "outage", StreamOptions{Block: 50 * time.Millisecond})
	start := appendN(t, w, 0, 1)[0]
	ch := readEntries(t, r, start)
	first := appendN(t, w, 1, 1)
	expectEntries(t, ch, first, 1)

	p.Down()
	if r := nextEntry(t, ch); r.err == nil {
		t.Fatalf("got %+v with Redis unreachable, want an error", r.e)
	}
	missed := appendN(t, w, 2, 5)
	p.Up()
	for i := 0; i < len(missed); {
		r := nextEntry(t, ch)
		if r.err != nil {
			continue // attempts before the proxy was back
		}
		if r.e.ID != missed[i] || r.e.Data.ID != 2+i {
			t.Fatalf("entry %d after the outage: %+v; want %s", i, r.e, missed[i])
		}
		i++
	}
}
