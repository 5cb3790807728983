package pubsub

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// stallProxy forwards TCP connections to a backend until stall, which
// makes the connections open at that moment swallow everything in both
// directions without closing: a half-open connection, as when a server or
// a network path vanishes without a FIN or RST. Connections opened later
// work again.
type stallProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	stalled map[net.Conn]bool // client side of each pair → stalled
	conns   []net.Conn
	wg      sync.WaitGroup
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target, stalled: map[net.Conn]bool{}}
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

func (p *stallProxy) addr() string { return p.ln.Addr().String() }

// stall turns every open connection into a black hole.
func (p *stallProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.stalled {
		p.stalled[c] = true
	}
}

func (p *stallProxy) isStalled(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalled[c]
}

func (p *stallProxy) accept() {
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
func (p *stallProxy) pipe(dst, src, client net.Conn) {
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
