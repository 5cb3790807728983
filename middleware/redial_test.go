package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/redisware/redisware/middleware"
)

// TestRedial: a refused dial is tried again until it succeeds or its
// context ends; any other error is returned at once.
func TestRedial(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connect: %w", syscall.ECONNREFUSED)}
	other := errors.New("no such host")
	conn, peer := net.Pipe()
	defer conn.Close()
	defer peer.Close()

	tests := []struct {
		name      string
		errs      []error // what the next dials return, then conn
		cancel    bool
		wantCalls int
		wantErr   error
	}{
		{"up at once", nil, false, 1, nil},
		{"refused three times", []error{refused, refused, refused}, false, 4, nil},
		{"other error", []error{other, refused}, false, 1, other},
		{"refused then other", []error{refused, other}, false, 2, other},
		{"refused until cancelled", []error{refused, refused, refused, refused, refused}, true, 1, refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			next := func(ctx context.Context, network, addr string) (net.Conn, error) {
				calls++
				if tt.cancel {
					cancel() // the caller gives up during the first dial
				}
				if calls <= len(tt.errs) {
					return nil, tt.errs[calls-1]
				}
				return conn, nil
			}
			dial := middleware.Redial(1).DialHook(next) // 1 ns: the test does not wait on the clock
			got, err := dial(ctx, "tcp", "127.0.0.1:1")
			if !errors.Is(err, tt.wantErr) || (err == nil) != (got == conn) {
				t.Fatalf("dial = %v, %v; want %v", got, err, tt.wantErr)
			}
			if calls != tt.wantCalls {
				t.Fatalf("%d dials, want %d", calls, tt.wantCalls)
			}
		})
	}
}

// TestRedialRealSocket: through a real socket, a dial that starts while
// nobody listens connects once a listener appears.
func TestRedialRealSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens on addr now

	var d net.Dialer
	attempts := make(chan struct{}, 1)
	next := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			select {
			case attempts <- struct{}{}:
			default:
			}
		}
		return c, err
	}
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		c, err := middleware.Redial(0).DialHook(next)(ctx, "tcp", addr)
		done <- result{c, err}
	}()
	<-attempts // one dial was refused
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer ln.Close()
	r := <-done
	if r.err != nil {
		t.Fatalf("dial after the listener came back: %v", r.err)
	}
	r.c.Close()
}
