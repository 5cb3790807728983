package bounded

import (
	"context"
	"testing"
	"time"
)

// BenchmarkCall measures what Call adds to a call that returns at once:
// the timeout alone when direct, plus a goroutine and a channel otherwise.
func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	fn := func(_ context.Context, n int) (int, error) { return n + 1, nil }
	for _, tc := range []struct {
		name   string
		direct bool
	}{{"direct", true}, {"goroutine", false}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Call(ctx, time.Second, tc.direct, fn, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
