package pubsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/bounded"
)

// Defaults of StreamOptions.
const (
	DefaultStreamPrefix = "pubsub:stream:"
	DefaultStreamMaxLen = 1000
	DefaultStreamTTL    = 24 * time.Hour
	DefaultStreamBlock  = 2 * time.Second
	DefaultStreamCount  = 100
)

// maxStreamName bounds a stream's name, which goes into its key as is.
const maxStreamName = 256

// ErrInvalidID is wrapped by the error for a stream ID that is malformed
// (not "<ms>-<seq>" in decimal, or out of range) or lies beyond the last
// ID the stream generated, so that no reader can have seen it.
var ErrInvalidID = errors.New("pubsub: invalid stream ID")

// ErrTrimmed is wrapped by the error Stream.Read yields when entries after
// the ID it resumes from may be gone: trimmed from the stream's old end, or
// lost with a key that expired. The entries that follow are the oldest the
// stream still holds.
var ErrTrimmed = errors.New("pubsub: stream entries trimmed away")

// StreamOptions configure a Stream, and the reading side of the stream SSE
// handler. The zero value is the default everywhere.
type StreamOptions struct {
	// Prefix goes before a stream's name to make its Redis key. Empty
	// means DefaultStreamPrefix, "pubsub:stream:".
	Prefix string
	// MaxLen is how many entries the stream keeps, about: every Append
	// trims the oldest ones away with XADD MAXLEN ~ MaxLen, which keeps at
	// least MaxLen (Redis trims whole internal nodes, so up to about 100
	// more). Readers take a stream of MaxLen entries for one that may
	// have been trimmed, so every Stream of one key needs the same MaxLen
	// (or readers a smaller one). Zero means DefaultStreamMaxLen, 1000.
	MaxLen int64
	// TTL is the expiry of the stream's key, set again by every Append: a
	// stream nobody appends to for TTL is deleted, entries and all. Zero
	// means DefaultStreamTTL, 24 h.
	TTL time.Duration
	// Block bounds each wait for new entries (XREAD BLOCK), so a reader
	// notices within Block that its context ended, even with a go-redis
	// client that lets a blocked read run past it (all of them do for a
	// cancellation). Each waiting reader costs one command per Block while
	// the stream is quiet. Zero means DefaultStreamBlock, 2 s.
	Block time.Duration
	// Count is the most entries one read returns (XREAD and XRANGE COUNT):
	// a replay goes in pages of Count, each one round trip. It must not
	// exceed MaxLen, which is how a reader tells that entries were trimmed
	// away before it read them (see ErrTrimmed). Zero means
	// DefaultStreamCount, 100.
	Count int64
}

// withDefaults returns a copy of o with its defaults filled in, or an
// error for a value that cannot work.
func (o StreamOptions) withDefaults() (StreamOptions, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultStreamPrefix
	}
	if o.MaxLen == 0 {
		o.MaxLen = DefaultStreamMaxLen
	}
	if o.TTL == 0 {
		o.TTL = DefaultStreamTTL
	}
	if o.Block == 0 {
		o.Block = DefaultStreamBlock
	}
	if o.Count == 0 {
		o.Count = DefaultStreamCount
	}
	switch {
	case o.MaxLen < 0:
		return o, fmt.Errorf("pubsub: stream: negative MaxLen %d", o.MaxLen)
	case o.TTL < time.Millisecond:
		return o, fmt.Errorf("pubsub: stream: TTL %v is below 1 ms", o.TTL)
	case o.Block < time.Millisecond:
		return o, fmt.Errorf("pubsub: stream: Block %v is below 1 ms (0 would block forever)", o.Block)
	case o.Count < 0:
		return o, fmt.Errorf("pubsub: stream: negative Count %d", o.Count)
	case o.Count > o.MaxLen:
		return o, fmt.Errorf("pubsub: stream: Count %d exceeds MaxLen %d", o.Count, o.MaxLen)
	}
	return o, nil
}

func (o StreamOptions) reader(rdb redis.UniversalClient, key string) streamReader {
	return streamReader{rdb: rdb, key: key, block: o.Block, count: o.Count, maxLen: o.MaxLen}
}

// validStreamName reports whether name can name a stream: 1 to 256 bytes.
func validStreamName(name string) error {
	if name == "" {
		return errors.New("pubsub: stream: empty name")
	}
	if len(name) > maxStreamName {
		return fmt.Errorf("pubsub: stream: name of %d bytes (at most %d)", len(name), maxStreamName)
	}
	return nil
}

// Entry is one entry of a stream.
type Entry[T any] struct {
	// ID is the entry's stream ID, "<ms>-<seq>": the Redis server's clock
	// in milliseconds when it was appended, and a sequence number within
	// that millisecond. IDs grow with every entry; pass one to Read to go
	// on after it.
	ID string
	// Data is the decoded payload. It is the zero value when decoding
	// failed; the error then comes alongside the entry.
	Data T
	// Payload is the entry's JSON exactly as appended.
	Payload string
}

// Stream is a typed, bounded log of JSON values in one Redis Stream key:
// Append adds to it, Read follows it from any ID it still holds. Unlike
// pub/sub, a reader that was away misses nothing the stream kept. A Stream
// is safe for concurrent use.
type Stream[T any] struct {
	name string
	o    StreamOptions
	r    streamReader
}

// NewStream returns the stream called name, in the key o.Prefix + name.
// The name goes into the key as is: do not build it from a client's input
// unchecked. It returns an error if rdb is nil, the name is empty or
// longer than 256 bytes, or an option is out of range.
func NewStream[T any](rdb redis.UniversalClient, name string, o StreamOptions) (*Stream[T], error) {
	if rdb == nil {
		return nil, errors.New("pubsub: stream: nil redis client")
	}
	if err := validStreamName(name); err != nil {
		return nil, err
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	key := o.Prefix + name
	return &Stream[T]{name: name, o: o, r: o.reader(rdb, key)}, nil
}

// Name returns the stream's name.
func (s *Stream[T]) Name() string { return s.name }

// Key returns the stream's Redis key.
func (s *Stream[T]) Key() string { return s.r.key }

// Append JSON-encodes v and appends it to the stream, trimming the stream
// to about MaxLen entries and setting the key's expiry to TTL, atomically
// and in one round trip (MULTI, XADD MAXLEN ~, PEXPIRE, EXEC). It returns
// the new entry's ID.
//
// ctx bounds Append as it bounds Publish, whatever the client: with a
// client that ignores contexts on a stalled connection, Append returns
// when ctx ends, with an error wrapping ctx.Err(), and the call runs on
// (the entry may still be appended).
func (s *Stream[T]) Append(ctx context.Context, v T) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("pubsub: stream %q: append: encode: %w", s.name, err)
	}
	a := &appendArgs{rdb: s.r.rdb, key: s.r.key, maxLen: s.o.MaxLen, ttl: s.o.TTL, data: data}
	err = bounded.Until(ctx, bounded.HonoursDeadlines(s.r.rdb), func(ctx context.Context, a *appendArgs) error {
		return a.do(ctx)
	}, a)
	if err != nil {
		return "", fmt.Errorf("pubsub: stream %q: append: %w", s.name, err)
	}
	return a.id, nil // a.do returned: its write of a.id happened before
}

// appendArgs are what an append needs, passed to bounded.Until, and the
// ID it got.
type appendArgs struct {
	rdb    redis.UniversalClient
	key    string
	maxLen int64
	ttl    time.Duration
	data   []byte
	id     string
}

func (a *appendArgs) do(ctx context.Context) error {
	p := a.rdb.TxPipeline()
	add := p.XAdd(ctx, &redis.XAddArgs{
		Stream: a.key,
		MaxLen: a.maxLen,
		Approx: true,
		Values: []any{streamField, a.data},
	})
	p.PExpire(ctx, a.key, a.ttl)
	if _, err := p.Exec(ctx); err != nil {
		return err
	}
	a.id = add.Val()
	return nil
}

// Read returns the entries appended after the ID after, in order,
// decoded as T, and then waits for new ones, for as long as the loop
// runs. after is:
//
//   - "": only entries appended from now on;
//   - "0-0": every entry the stream holds, then new ones;
//   - an entry's ID (Entry.ID, or an SSE client's Last-Event-ID): the
//     entries after it. If entries after it may be gone (trimmed away, or
//     lost with an expired key), Read first yields an error wrapping
//     ErrTrimmed and goes on with the oldest entry the stream holds.
//
// An after that is malformed, or lies beyond the last ID the stream
// generated, is yielded as the only error, wrapping ErrInvalidID; so is a
// failure to reach Redis before the first entry. Later, an entry that does
// not decode as T comes with a *DecodeError, and a failed read with its
// error, after which Read retries, 50 ms later and up to 2 s apart, from
// where it was: Redis keeps the entries, so an outage loses none (unless
// it outlasts the stream's trimming, which is then reported).
//
// Read ends when ctx ends or the loop stops, within Block (each wait for
// new entries is an XREAD BLOCK of at most Block, which go-redis does not
// interrupt for a cancelled context) and, on a connection that stalls
// without closing, within Block plus the 10 s go-redis adds to a blocking
// read's timeout. While it waits, it holds one connection of the client's
// pool: many readers of one stream in one process are better served by
// one Read that fans out, as the stream SSE handler does.
//
// Each loop over the returned sequence starts over from after.
func (s *Stream[T]) Read(ctx context.Context, after string) iter.Seq2[Entry[T], error] {
	return func(yield func(Entry[T], error) bool) {
		from, ok := s.start(ctx, after, yield)
		if !ok {
			return
		}
		var bo backoff
		recheck := false // after a failed read: was the key recreated meanwhile?
		for ctx.Err() == nil {
			if recheck {
				loc, err := s.r.locate(ctx, 0)
				if err == nil {
					lost, err := s.r.resume(from, loc)
					if err != nil { // the stream went back in time: a new one
						lost = true
					}
					if lost {
						from = loc.beforeFirst()
					}
					if lost && !yield(Entry[T]{}, s.trimmed()) {
						return
					}
					recheck = false
				} else if !s.failed(ctx, err, &bo, yield) {
					return
				}
				continue
			}
			msgs, lost, err := s.r.wait(ctx, from)
			if err != nil {
				if !s.failed(ctx, err, &bo, yield) {
					return
				}
				recheck = true
				continue
			}
			bo.reset()
			if lost && !yield(Entry[T]{}, s.trimmed()) {
				return
			}
			for _, m := range msgs {
				id, ok := parseStreamID(m.ID)
				if !ok { // not from Redis
					yield(Entry[T]{}, fmt.Errorf("pubsub: stream %q: entry ID %q is not a stream ID", s.name, m.ID))
					return
				}
				from = id
				if !s.yieldEntry(m, yield) {
					return
				}
			}
		}
	}
}

// start validates after and locates where Read begins. It reports false
// when Read must end (the error, if any, yielded).
func (s *Stream[T]) start(ctx context.Context, after string, yield func(Entry[T], error) bool) (streamID, bool) {
	var from streamID
	if after != "" {
		id, ok := parseStreamID(after)
		if !ok {
			yield(Entry[T]{}, fmt.Errorf("pubsub: stream %q: read after %.50q: %w", s.name, after, ErrInvalidID))
			return from, false
		}
		from = id
	}
	loc, err := s.r.locate(ctx, 0)
	if err != nil {
		if ctx.Err() == nil {
			yield(Entry[T]{}, fmt.Errorf("pubsub: stream %q: read: %w", s.name, err))
		}
		return from, false
	}
	switch {
	case after == "":
		return loc.last, true
	case from == streamID{}:
		return loc.beforeFirst(), true // everything held
	}
	lost, err := s.r.resume(from, loc)
	if err != nil {
		yield(Entry[T]{}, fmt.Errorf("pubsub: stream %q: read after %s (last is %s): %w", s.name, after, loc.last, err))
		return from, false
	}
	if lost {
		return loc.beforeFirst(), yield(Entry[T]{}, s.trimmed())
	}
	return from, true
}

func (s *Stream[T]) trimmed() error {
	return fmt.Errorf("pubsub: stream %q: %w", s.name, ErrTrimmed)
}

// failed yields a failed read's error and waits the backoff. It reports
// false when Read must end.
func (s *Stream[T]) failed(ctx context.Context, err error, bo *backoff, yield func(Entry[T], error) bool) bool {
	if ctx.Err() != nil {
		return false
	}
	if !yield(Entry[T]{}, fmt.Errorf("pubsub: stream %q: read: %w", s.name, err)) {
		return false
	}
	return bo.wait(ctx)
}

func (s *Stream[T]) yieldEntry(m redis.XMessage, yield func(Entry[T], error) bool) bool {
	e := Entry[T]{ID: m.ID}
	p, err := payload(m)
	if err != nil {
		return yield(e, &DecodeError{Channel: s.name, Err: err})
	}
	e.Payload = p
	if err := json.Unmarshal([]byte(p), &e.Data); err != nil {
		var zero T
		e.Data = zero
		return yield(e, &DecodeError{Channel: s.name, Err: err})
	}
	return yield(e, nil)
}
