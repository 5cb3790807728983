package cachehandler

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestHTTPSubscribingHandoff: a subscription opened before the waiter
// takes it is handed over; one opened after the waiter gave up (a call
// abandoned at the timeout that succeeded late) is closed, not leaked.
func TestHTTPSubscribingHandoff(t *testing.T) {
	tests := []struct {
		name       string
		putFirst   bool
		wantHanded bool
	}{
		{"opened in time", true, true},
		{"opened after the waiter gave up", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
			t.Cleanup(func() { _ = rdb.Close() })
			ps := rdb.Subscribe(context.Background()) // no channels: no connection yet
			h := &httpSubscribing{}
			var got *redis.PubSub
			if tt.putFirst {
				h.put(ps)
				got = h.take()
			} else {
				got = h.take()
				h.put(ps)
			}
			if handed := got == ps; handed != tt.wantHanded {
				t.Fatalf("handed over: %v, want %v", handed, tt.wantHanded)
			}
			// Close fails on a subscription that is closed already.
			if closed := ps.Close() != nil; closed == tt.wantHanded {
				t.Fatalf("closed by put: %v, want %v", closed, !tt.wantHanded)
			}
		})
	}
}
