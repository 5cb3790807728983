package cachehandler

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
)

// asideStallProxy (a copy of pubsub's test proxy: packages share no test
// code outside internal/) forwards TCP connections to a backend until stall, which
// makes the connections open at that moment swallow everything in both
// directions without closing: a half-open connection, as when a server or
// a network path vanishes without a FIN or RST. Connections opened later
// work again.
type asideStallProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	stalled map[net.Conn]bool // client side of each pair → stalled
	conns   []net.Conn
	wg      sync.WaitGroup
}

func newAsideStallProxy(t *testing.T, target string) *asideStallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &asideStallProxy{ln: ln, target: target, stalled: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *asideStallProxy) addr() string { return p.ln.Addr().String() }

// stall turns every open connection into a black hole.
func (p *asideStallProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.stalled {
		p.stalled[c] = true
	}
}

func (p *asideStallProxy) isStalled(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalled[c]
}

func (p *asideStallProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.stalled[c] = false
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up, c)
		go p.pipe(up, c, c)
	}
}

// pipe copies src to dst while the pair (known by its client side) is not
// stalled, and drops what it reads afterwards.
func (p *asideStallProxy) pipe(dst, src, client net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.isStalled(client) {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = dst.Close()
			return
		}
	}
}

// TestAsideInvalidationSurvivesHalfOpenConnection: when the invalidation
// subscription's connection stops answering without being closed, the
// unanswered ping drops it, the resubscription purges the local tier (the
// invalidations in between are lost), and invalidations arrive again.
func TestAsideInvalidationSurvivesHalfOpenConnection(t *testing.T) {
	b := redistest.Start(t)
	p := newAsideStallProxy(t, b.Addr())
	ctx := context.Background()
	writer, _ := asideNew(t, b.Client(), b, AsideOptions{})
	// Pinged every 100 ms; entries never expire by themselves here.
	reader, logs := asideNew(t, b.ClientAt(p.addr()), b, AsideOptions{LocalSize: 10, LocalTTL: 100 * time.Millisecond})
	reader.local.now = redistest.NewClock(time.Unix(1e9, 0)).Now
	full := reader.o.Prefix + "item"
	cached := func() bool { _, ok := reader.local.get(full); return ok }

	reader.local.put(full, []byte(`"v1"`), 0, reader.local.epochNow())
	p.stall()
	asideWaitFor(t, "the dead connection replaced and the tier purged", func() bool { return !cached() })
	if !strings.Contains(logs.String(), "invalidation subscription interrupted") {
		t.Fatalf("not logged:\n%s", logs)
	}

	// The purge came with the new subscription's confirmation:
	// invalidations flow again.
	reader.local.put(full, []byte(`"v2"`), 0, reader.local.epochNow())
	if err := writer.Delete(ctx, "item"); err != nil {
		t.Fatal(err)
	}
	asideWaitFor(t, "eviction through the new connection", func() bool { return !cached() })
}
