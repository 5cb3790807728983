// Package pipe sends the library's single commands through the client's
// autopipeliner, so that the commands of concurrent requests share one
// write and one read on one connection instead of a round trip each.
//
// On a loopback Redis most of a command's cost is not the command but the
// round trip around it: a system call to write, a wake-up, a system call
// to read, on both sides. go-redis (v9.23 and later) can gather the
// commands that concurrent goroutines send into one pipeline: its deferred
// autopipeliner (Client.AsyncAutoPipeline) queues each command and sends
// what has queued while the previous batch was on the wire. A Sender uses
// it for the commands the packages send one at a time on their hot paths
// (a session load, a rate-limit decision, a cache read) and keeps every
// guarantee a direct command gives:
//
//   - Order. The autopipeliner's default is one ordered stream, and a
//     caller waits for each reply before it sends its next command, so a
//     command sent after another's reply arrived runs after it: a request
//     reads what an earlier request wrote (read-your-writes), as with a
//     command of its own.
//   - Deadlines. The autopipeliner runs a batch on a context of its own; a
//     Sender stops waiting at the caller's context (WaitContext), so a
//     call still ends at the package's Timeout. As with a direct command
//     whose reply is lost, a command given up on may still run later.
//   - Scripts stay atomic: a batch holds whole commands, and a script call
//     is one command.
//
// A Sender is direct (the command goes to the client as it is) when the
// client is not a *redis.Client or *redis.ClusterClient (a wrapper, a
// Ring, an autopipeliner the application made itself) or when the package
// was told not to pipeline (the Options field NoAutoPipeline). Commands
// that are not sent one at a time (pipelines, subscriptions) always go to
// the client directly.
package pipe

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Sender sends one command at a time, through the client's deferred
// autopipeliner when it has one (see the package doc). The zero Sender is
// not usable; New makes one. A Sender is safe for concurrent use.
type Sender struct {
	rdb redis.UniversalClient
	ap  *redis.AutoPipeliner // nil: direct
}

// New returns a Sender of rdb: direct when off is true or rdb has no
// autopipeliner. It fails only when the client's own AutoPipelineOptions
// are invalid. The autopipeliner is the client's shared instance: the
// client owns it and closes it when it closes.
func New(rdb redis.UniversalClient, off bool) (Sender, error) {
	s := Sender{rdb: rdb}
	if off {
		return s, nil
	}
	var err error
	switch c := rdb.(type) {
	case *redis.Client:
		s.ap, err = c.AsyncAutoPipeline()
	case *redis.ClusterClient:
		s.ap, err = c.AsyncAutoPipeline()
	}
	if err != nil {
		return Sender{}, fmt.Errorf("the client's autopipeliner: %w (set NoAutoPipeline to send commands directly)", err)
	}
	return s, nil
}

// Client returns the client s sends to when it is direct, and for
// everything that is not one command at a time.
func (s Sender) Client() redis.UniversalClient { return s.rdb }

// Process sends cmd and waits for its reply or for ctx to end, whichever
// comes first. When it returns an error that came from ctx, the command
// may still be queued or running: the caller must not read cmd (its
// accessors would wait for the reply).
func (s Sender) Process(ctx context.Context, cmd redis.Cmder) error {
	if s.ap == nil {
		return s.rdb.Process(ctx, cmd)
	}
	return s.ap.Submit(ctx, cmd).WaitContext(ctx)
}

// HGetAll is HGETALL key through s.
func (s Sender) HGetAll(ctx context.Context, key string) (map[string]string, error) {
	cmd := redis.NewMapStringStringCmd(ctx, "hgetall", key)
	cmd.SetFirstKeyPos(1)
	if err := s.Process(ctx, cmd); err != nil {
		return nil, err
	}
	return cmd.Val(), nil
}

// Get is GET key through s; a missing key is redis.Nil.
func (s Sender) Get(ctx context.Context, key string) ([]byte, error) {
	cmd := redis.NewStringCmd(ctx, "get", key)
	cmd.SetFirstKeyPos(1)
	if err := s.Process(ctx, cmd); err != nil {
		return nil, err
	}
	return cmd.Bytes()
}
