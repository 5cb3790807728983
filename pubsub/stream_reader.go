package pubsub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// streamField is the entry field that holds the JSON payload.
const streamField = "d"

// streamReader is what Stream.Read and the stream SSE handler share: the
// three ways of reading one stream key, each one round trip.
//
// A reader's position is the ID of the last entry it has seen, or 0-0,
// the origin, before every entry of a stream that did not exist when the
// reader started. Entries leave a stream only at its old end (MAXLEN
// trimming keeps at least MaxLen of them) or all at once (the key
// expires). So a reader has lost entries only if the stream's oldest entry
// is newer than its position; and a reader at the origin, only if the
// stream has been trimmed, which requires it to hold at least MaxLen
// entries. Both checks err on the side of reporting a loss: when the entry
// at a reader's position was itself the last one trimmed, it missed
// nothing but is told it may have.
type streamReader struct {
	rdb    redis.UniversalClient
	key    string
	block  time.Duration
	count  int64
	maxLen int64
}

// located is what a stream holds at one moment, as far as a reader
// resuming from an ID needs to know.
type located struct {
	exists bool     // the key exists
	last   streamID // the last ID the stream generated (0-0 if !exists)
	length int64    // how many entries it holds
	first  streamID // its oldest entry, if length > 0
	// backlog is up to the requested number of the newest entries,
	// newest first.
	backlog []redis.XMessage
}

// beforeFirst is the position of a reader that wants every entry the
// stream holds: just before its oldest entry, or at its last ID when it
// holds none (the origin when there is no stream).
func (loc located) beforeFirst() streamID {
	if loc.length > 0 {
		return loc.first.prev()
	}
	return loc.last
}

// errNoSuchKey is how XINFO STREAM answers for a missing key (Redis and
// miniredis alike); nothing more specific exists to test for.
func errNoSuchKey(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "ERR no such key")
}

// locate reads, in one round trip, the stream's last generated ID and
// length (XINFO STREAM: unlike the last entry, the last ID survives the
// deletion of that entry), its oldest entry, and the newest backlog
// entries if backlog > 0.
func (r *streamReader) locate(ctx context.Context, backlog int64) (located, error) {
	var (
		info  *redis.XInfoStreamCmd
		first *redis.XMessageSliceCmd
		back  *redis.XMessageSliceCmd
	)
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		info = p.XInfoStream(ctx, r.key)
		first = p.XRangeN(ctx, r.key, "-", "+", 1)
		if backlog > 0 {
			back = p.XRevRangeN(ctx, r.key, "+", "-", backlog)
		}
		return nil
	})
	var loc located
	if err != nil && !errNoSuchKey(err) {
		return loc, err
	}
	if err := info.Err(); err != nil {
		if !errNoSuchKey(err) {
			return loc, err
		}
		return loc, nil // no key: nothing else to read
	}
	for _, c := range []*redis.XMessageSliceCmd{first, back} {
		if c != nil && c.Err() != nil {
			return loc, c.Err()
		}
	}
	loc.exists = true
	var ok bool
	if loc.last, ok = parseStreamID(info.Val().LastGeneratedID); !ok {
		return loc, fmt.Errorf("last-generated-id %q is not a stream ID", info.Val().LastGeneratedID)
	}
	if msgs := first.Val(); len(msgs) > 0 {
		loc.length = max(info.Val().Length, 1) // XINFO came first: the stream may have grown since
		if loc.first, ok = parseStreamID(msgs[0].ID); !ok {
			return loc, fmt.Errorf("entry ID %q is not a stream ID", msgs[0].ID)
		}
	}
	if back != nil {
		loc.backlog = back.Val()
	}
	return loc, nil
}

// resume decides whether a reader at position `at` can go on from there.
// It returns lost when entries after `at` may be gone (see streamReader),
// and an error wrapping ErrInvalidID when `at` lies beyond the last ID the
// stream generated: no reader can have seen it.
func (r *streamReader) resume(at streamID, loc located) (lost bool, err error) {
	switch {
	case at == streamID{}:
		return loc.length >= r.maxLen, nil
	case !loc.exists:
		return true, nil // whatever followed `at` expired with the key
	case at.compare(loc.last) > 0:
		return false, ErrInvalidID
	case loc.length > 0:
		return gapBetween(at, loc.first), nil
	default:
		return at.compare(loc.last) < 0, nil // all of it deleted
	}
}

// page reads up to count entries after `at` (XRANGE), without blocking,
// and reports lost when entries after `at` may have been trimmed away
// before the read. See wait for how loss is told.
func (r *streamReader) page(ctx context.Context, at streamID) ([]redis.XMessage, bool, error) {
	start, ok := at.next()
	if !ok {
		return nil, false, nil
	}
	var rng, first *redis.XMessageSliceCmd
	var n *redis.IntCmd
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		rng = p.XRangeN(ctx, r.key, start.String(), "+", r.count)
		first = p.XRangeN(ctx, r.key, "-", "+", 1) // after the page: see wait
		n = p.XLen(ctx, r.key)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	msgs := rng.Val()
	lost, err := r.lostBefore(at, msgs, first.Val(), n.Val())
	return msgs, lost, err
}

// wait reads up to count entries after `at`, blocking up to block for the
// first one (XREAD BLOCK), on one connection of the client's pool. It
// returns no entry and no error when none came within block.
//
// It reports lost when entries after `at` may have been trimmed away
// before the read: the stream's oldest entry, read after the entries (a
// second round trip, only for a full read), is then newer than `at`. A
// read that is not full proves nothing was lost: trimming (MAXLEN ~ n)
// always leaves at least n ≥ count entries, all newer than what it
// removed, so a reader that lost entries finds count of them. That holds
// for every writer that trims to at least count entries, as Append does;
// a key recreated after it expired is told by resume, which readers call
// again after every failed read.
func (r *streamReader) wait(ctx context.Context, at streamID) ([]redis.XMessage, bool, error) {
	res, err := r.rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{r.key, at.String()},
		Count:   r.count,
		Block:   r.block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil // nothing new within block
	}
	if err != nil {
		return nil, false, err
	}
	var msgs []redis.XMessage
	for _, s := range res {
		if s.Stream == r.key {
			msgs = s.Messages
		}
	}
	if int64(len(msgs)) < r.count {
		return msgs, false, nil
	}
	var first *redis.XMessageSliceCmd
	var n *redis.IntCmd
	if _, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		first = p.XRangeN(ctx, r.key, "-", "+", 1)
		n = p.XLen(ctx, r.key)
		return nil
	}); err != nil {
		return nil, false, err
	}
	lost, err := r.lostBefore(at, msgs, first.Val(), n.Val())
	return msgs, lost, err
}

// lostBefore tells loss for page and wait from a read's entries, and the
// oldest entry held and the length after it.
func (r *streamReader) lostBefore(at streamID, msgs, first []redis.XMessage, length int64) (bool, error) {
	if int64(len(msgs)) < r.count || len(first) == 0 {
		return false, nil
	}
	if at == (streamID{}) {
		return length >= r.maxLen, nil
	}
	f, ok := parseStreamID(first[0].ID)
	if !ok {
		return false, fmt.Errorf("entry ID %q is not a stream ID", first[0].ID)
	}
	return gapBetween(at, f), nil
}

// gapBetween reports whether an entry can have stood between at and
// first: whether first is not the very next ID.
func gapBetween(at, first streamID) bool {
	n, ok := at.next()
	return ok && n.compare(first) < 0
}

// backoff is the wait between failed reads: 50 ms after the first
// failure, twice as long after each next one, up to 2 s.
type backoff struct{ d time.Duration }

// wait sleeps for the next interval and reports whether ctx is still
// alive.
func (b *backoff) wait(ctx context.Context) bool {
	switch {
	case b.d == 0:
		b.d = 50 * time.Millisecond
	case b.d < 2*time.Second:
		b.d = min(2*b.d, 2*time.Second)
	}
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (b *backoff) reset() { b.d = 0 }

// payload returns the JSON payload of an entry, or an error for an entry
// this package did not write.
func payload(m redis.XMessage) (string, error) {
	v, ok := m.Values[streamField]
	if !ok {
		return "", fmt.Errorf("entry %s has no field %q", m.ID, streamField)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("entry %s: field %q is a %T", m.ID, streamField, v)
	}
	return s, nil
}
