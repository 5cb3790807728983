package pubsub

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
)

// BenchmarkStreamAppend measures Append: encoding and one MULTI round trip
// (XADD MAXLEN ~, PEXPIRE). Against miniredis the server's allocations
// count too; set REDIS_URL for the client's alone.
func BenchmarkStreamAppend(b *testing.B) {
	be := redistest.Start(b)
	s := newStream[order](b, be.Client(), be.Prefix, "bench", StreamOptions{})
	ctx := context.Background()
	v := order{ID: 7, Items: []string{"a", "b"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Append(ctx, v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSSEFanout measures one event reaching every client of an SSE
// stream: an Append (or a Publish) and its delivery to each client, for
// the stream handler (one live read per stream, frames built once) and
// the pub/sub handler (one subscription per client). The clients' reading
// allocates nothing; the servers' (and miniredis') allocations count.
func BenchmarkSSEFanout(b *testing.B) {
	for _, kind := range []string{"stream", "pubsub"} {
		for _, clients := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%s/clients=%d", kind, clients), func(b *testing.B) {
				benchFanout(b, kind, clients)
			})
		}
	}
}

func benchFanout(b *testing.B, kind string, clients int) {
	be := redistest.Start(b)
	rdb := be.Client()
	ctx := context.Background()
	var (
		h       http.Handler
		publish func(i int) error
	)
	switch kind {
	case "stream":
		s := newStream[order](b, rdb, be.Prefix, "fan", StreamOptions{})
		h = newStreamSSE(b, rdb, be.Prefix, "fan", StreamSSEOptions{Heartbeat: -1})
		publish = func(i int) error { _, err := s.Append(ctx, order{ID: i}); return err }
	case "pubsub":
		ch := be.Prefix + "fan"
		var err error
		if h, err = NewSSE(rdb, func(*http.Request) ([]string, error) { return []string{ch}, nil },
			SSEOptions{Heartbeat: -1, Logger: quietLogger()}); err != nil {
			b.Fatal(err)
		}
		publish = func(i int) error { return Publish(ctx, rdb, ch, order{ID: i}) }
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan struct{}, clients)
	for range clients {
		req, _ := http.NewRequestWithContext(cctx, http.MethodGet, srv.URL, nil)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		go func() {
			rd := bufio.NewReaderSize(resp.Body, 4096)
			for {
				line, err := rd.ReadSlice('\n')
				if err != nil {
					return
				}
				if bytes.HasPrefix(line, []byte("data: ")) {
					got <- struct{}{}
				}
			}
		}()
	}
	// Every client is listening once one event reaches them all.
	if err := publish(0); err != nil {
		b.Fatal(err)
	}
	for range clients {
		<-got
	}
	i := 1
	b.ReportAllocs()
	for b.Loop() {
		if err := publish(i); err != nil {
			b.Fatal(err)
		}
		i++
		for range clients {
			<-got
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*clients), "ns/delivery")
	cancel()
	srv.Close()
	if kind == "stream" {
		redistest.Eventually(b, "the stream reader to stop", func() bool { return hubsRunning() == 0 })
	}
}
