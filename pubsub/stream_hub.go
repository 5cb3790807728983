package pubsub

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"
)

// streamHubs are the live readers of one stream SSE handler: at most one
// per stream key with clients, which blocks on one connection and fans
// each batch of entries out to every client following the stream, however
// many there are.
type streamHubs struct {
	mu   sync.Mutex
	hubs map[string]*hub
}

// hub reads one stream live and feeds its followers.
type hub struct {
	r      streamReader
	event  string // the event name: the stream's name
	buffer int
	logger *slog.Logger
	cancel context.CancelFunc

	mu        sync.Mutex
	cursor    streamID // the last ID read (or where reading starts)
	followers map[*follower]struct{}
}

// frame is one entry as an SSE event, ready to write.
type frame struct {
	id streamID
	b  []byte
}

// hubItem is what a follower is fed: a batch of frames, or a reset.
type hubItem struct {
	frames []frame
	reset  bool     // entries may be lost: the client must refetch
	at     streamID // with reset: where the stream goes on from
	back   bool     // with reset: the stream went back before at (a new stream)
}

// follower is one client's queue. The hub appends, the client's handler
// takes; a follower that falls more than the buffer behind is detached and
// catches up from Redis on its own.
type follower struct {
	wake chan struct{} // capacity 1: something to take

	mu       sync.Mutex
	items    []hubItem
	n        int // frames queued
	detached bool
}

func newFollower() *follower { return &follower{wake: make(chan struct{}, 1)} }

// push queues it and reports whether the follower is still attached. A
// batch that would take the queue past buffer frames detaches the
// follower instead (a batch into an empty queue is always taken: one read
// is at most Count entries).
func (f *follower) push(it hubItem, buffer int) bool {
	f.mu.Lock()
	if f.detached {
		f.mu.Unlock()
		return false
	}
	n := len(it.frames)
	if f.n > 0 && f.n+n > buffer {
		f.detached = true
		f.items, f.n = nil, 0
	} else {
		f.items = append(f.items, it)
		f.n += n
	}
	attached := !f.detached
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return attached
}

// take returns what is queued and whether the follower was detached.
func (f *follower) take() ([]hubItem, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	items := f.items
	f.items, f.n = nil, 0
	return items, f.detached
}

// join adds f to the hub of r's key, starting one that reads after `at`
// if there is none, and returns the hub and the last ID it has read: f
// gets every entry after that ID.
func (hs *streamHubs) join(r streamReader, event string, buffer int, logger *slog.Logger, f *follower, at streamID) (*hub, streamID) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hb := hs.hubs[r.key]
	if hb == nil {
		if hs.hubs == nil {
			hs.hubs = map[string]*hub{}
		}
		var ctx context.Context
		hb = &hub{r: r, event: event, buffer: buffer, logger: logger, cursor: at, followers: map[*follower]struct{}{}}
		// The hub serves every client of its stream, so no request's
		// context may end it: it ends when its last follower leaves.
		ctx, hb.cancel = context.WithCancel(context.Background())
		hs.hubs[r.key] = hb
		go hb.run(ctx)
	}
	hb.mu.Lock()
	hb.followers[f] = struct{}{}
	cursor := hb.cursor
	hb.mu.Unlock()
	return hb, cursor
}

// leave removes f from hb and stops hb when no follower is left. The hub's
// read in progress ends within Block.
func (hs *streamHubs) leave(hb *hub, f *follower) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hb.mu.Lock()
	delete(hb.followers, f)
	empty := len(hb.followers) == 0
	hb.mu.Unlock()
	if empty && hs.hubs[hb.r.key] == hb {
		delete(hs.hubs, hb.r.key)
		hb.cancel()
	}
}

// run reads the stream until ctx ends. A failed read is logged once per
// outage and retried with a backoff from the same ID: the stream kept the
// entries, so followers get them late rather than never. After a failure,
// and whenever a read finds entries trimmed away behind it, the hub checks
// where the stream stands and, if entries may be lost, resets its
// followers to the stream's last ID.
func (hb *hub) run(ctx context.Context) {
	var (
		bo       backoff
		failures int
		since    time.Time
		recheck  bool // a read failed: check the stream before reading on
		mustSkip bool // entries were lost: reset to the stream's last ID
	)
	for ctx.Err() == nil {
		hb.mu.Lock()
		cursor := hb.cursor
		hb.mu.Unlock()
		var err error
		if recheck || mustSkip {
			var loc located
			if loc, err = hb.r.locate(ctx, 0); err == nil {
				lost, invalid := hb.r.resume(cursor, loc)
				if mustSkip || lost || invalid != nil {
					hb.reset(loc.last, invalid != nil)
				}
				recheck, mustSkip = false, false
			}
		} else {
			var b batch
			var lost bool
			b, lost, err = hb.read(ctx, cursor)
			switch {
			case err != nil:
			case lost:
				mustSkip = true
			case b.read > 0:
				hb.fanout(b)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if failures == 0 {
				since = time.Now()
				hb.logger.LogAttrs(ctx, slog.LevelError, "pubsub: stream sse: cannot read the stream; clients wait",
					slog.String("stream", hb.event), slog.Any("err", err))
			}
			failures++
			recheck = true
			if !bo.wait(ctx) {
				return
			}
			continue
		}
		if failures > 0 {
			hb.logger.LogAttrs(ctx, slog.LevelInfo, "pubsub: stream sse: reading the stream again",
				slog.String("stream", hb.event), slog.Duration("after", time.Since(since)), slog.Int("failed_reads", failures))
			failures = 0
		}
		bo.reset()
	}
}

// batch is what one read got: its entries as frames, skipping those that
// are not this package's JSON, and the ID of the last entry read.
type batch struct {
	frames []frame
	last   streamID
	read   int // entries read, skipped ones included
}

// read waits for entries after cursor and turns them into frames, once
// for all followers.
func (hb *hub) read(ctx context.Context, cursor streamID) (batch, bool, error) {
	msgs, lost, err := hb.r.wait(ctx, cursor)
	if err != nil || lost || len(msgs) == 0 {
		return batch{}, lost, err
	}
	var buf bytes.Buffer
	b := batch{frames: make([]frame, 0, len(msgs)), read: len(msgs)}
	offs := make([]int, 0, len(msgs)+1)
	for _, m := range msgs {
		id, ok := parseStreamID(m.ID)
		if !ok {
			continue // not from Redis
		}
		b.last = id
		data, err := payload(m)
		if err == nil && !json.Valid([]byte(data)) {
			err = errNotJSON
		}
		if err != nil {
			hb.logger.LogAttrs(ctx, slog.LevelWarn, "pubsub: stream sse: entry skipped",
				slog.String("stream", hb.event), slog.String("id", m.ID), slog.Any("err", err))
			continue
		}
		offs = append(offs, buf.Len())
		writeStreamEvent(&buf, m.ID, hb.event, data)
		b.frames = append(b.frames, frame{id: id})
	}
	all := buf.Bytes()
	offs = append(offs, len(all))
	for i := range b.frames {
		b.frames[i].b = all[offs[i]:offs[i+1]:offs[i+1]]
	}
	return b, false, nil
}

// fanout moves the cursor past b and queues its frames for every
// follower, detaching those that are too far behind.
func (hb *hub) fanout(b batch) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if b.last.compare(hb.cursor) > 0 {
		hb.cursor = b.last
	}
	if len(b.frames) == 0 {
		return
	}
	for f := range hb.followers {
		if !f.push(hubItem{frames: b.frames}, hb.buffer) {
			delete(hb.followers, f)
		}
	}
}

// reset moves the cursor to at and tells every follower to reset.
func (hb *hub) reset(at streamID, back bool) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.cursor = at
	for f := range hb.followers {
		if !f.push(hubItem{reset: true, at: at, back: back}, hb.buffer) {
			delete(hb.followers, f)
		}
	}
}
