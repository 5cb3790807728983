package redistest

import (
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a backend that a test can cut and
// restore, to simulate a Redis outage on a shared real server as well as on
// miniredis. While down, it refuses new connections and has closed the open
// ones. Stall instead turns the open connections into black holes, the way
// a server or network path that vanishes without a FIN or RST does; Hang
// does it to new connections too.
type Proxy struct {
	t      testing.TB
	target string
	ln     net.Listener

	mu      sync.Mutex
	down    bool
	hung    bool // new connections are stalled from the start
	conns   map[net.Conn]struct{}
	stalled map[net.Conn]bool // client side of each open pair → stalled
	wg      sync.WaitGroup
}

// NewProxy starts a proxy to b on a free local port; it stops when the test
// ends.
func (b *Backend) NewProxy() *Proxy {
	b.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.t.Fatalf("redistest: proxy listen: %v", err)
	}
	p := &Proxy{t: b.t, target: b.addr, ln: ln, conns: map[net.Conn]struct{}{}, stalled: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	b.t.Cleanup(func() {
		_ = ln.Close()
		p.Down()
		p.wg.Wait()
	})
	return p
}

// Addr is the address clients dial to go through the proxy.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Down closes every open connection and refuses new ones until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
}

// Stall makes every connection open at this moment swallow what is sent
// in either direction without closing it: a half-open connection.
// Connections opened later work normally.
//
// When the test ends, the proxy goes Down before anything the test made
// earlier is cleaned up: a client closed while a call of its hangs on a
// stalled connection (an autopipeliner's batch, say) would otherwise wait
// out its own timeouts, and one that redials would be stalled again.
func (p *Proxy) Stall() {
	p.mu.Lock()
	for c := range p.stalled {
		p.stalled[c] = true
	}
	p.mu.Unlock()
	p.t.Cleanup(p.Down)
}

// Hang stalls every open connection, as Stall does, and every connection
// opened later, until Up: a server that accepts connections and never
// answers, as one whose process hangs does. A client's handshake on a new
// connection then waits as long as the client's own timeouts allow.
func (p *Proxy) Hang() {
	p.mu.Lock()
	p.hung = true
	p.mu.Unlock()
	p.Stall()
}

func (p *Proxy) isStalled(client net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalled[client]
}

// Up lets new connections through again after Down or Hang; connections
// stalled before stay so.
func (p *Proxy) Up() {
	p.mu.Lock()
	p.down, p.hung = false, false
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.conns[up] = struct{}{}
		p.stalled[c] = p.hung
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(c, up, c)
		go p.pipe(up, c, c)
	}
}

// pipe copies src to dst until either side closes, dropping what it reads
// while the pair (known by its client side) is stalled.
func (p *Proxy) pipe(dst, src, client net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.isStalled(client) {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	delete(p.stalled, client)
	p.mu.Unlock()
}
