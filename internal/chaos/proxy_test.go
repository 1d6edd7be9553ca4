package chaos

import (
	"net"
	"sync"
	"testing"
)

// proxy forwards TCP connections from a loopback port to target. cut
// makes it a network that silently loses everything: nothing more is
// forwarded, in either direction, on old connections or new ones, and
// nothing is closed, so neither end sees a FIN or a RST. heal brings the
// network back: connections that lived through the cut are reset (the
// far end gave up on them long ago, and a real peer answers a late packet
// with a RST), and new ones are forwarded again.
type proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	cut   bool
	links map[*link]struct{}
}

// link is one forwarded connection: down faces the client, up the target.
type link struct {
	down, up net.Conn
	frozen   bool // caught by a cut: never forwards again; reset at heal
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, links: make(map[*link]struct{})}
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		l := &link{down: c}
		p.mu.Lock()
		p.links[l] = struct{}{}
		l.frozen = p.cut // accepted into a dead network: held, never answered
		p.mu.Unlock()
		if !l.frozen {
			p.wg.Go(func() { p.connect(l) })
		}
	}
}

func (p *proxy) connect(l *link) {
	up, err := net.Dial("tcp", p.target)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.dropLocked(l, false)
		return
	}
	if _, ok := p.links[l]; !ok {
		up.Close() // the proxy closed meanwhile
		return
	}
	l.up = up
	if l.frozen {
		return
	}
	p.wg.Go(func() { p.pipe(l, l.up, l.down) })
	p.wg.Go(func() { p.pipe(l, l.down, l.up) })
}

// pipe copies src to dst while the link is live. A cut stops it without
// closing anything; an end or error on a live link closes both sides.
func (p *proxy) pipe(l *link, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		frozen := l.frozen
		p.mu.Unlock()
		if frozen {
			return // what was read is lost, as on a dead network
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			p.mu.Lock()
			if !l.frozen {
				p.dropLocked(l, false)
			}
			p.mu.Unlock()
			return
		}
	}
}

// dropLocked closes both sides of a link; with reset, as a RST.
func (p *proxy) dropLocked(l *link, reset bool) {
	for _, c := range []net.Conn{l.down, l.up} {
		if c == nil {
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok && reset {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
	delete(p.links, l)
}

// cutNetwork stops all forwarding without closing anything.
func (p *proxy) cutNetwork() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for l := range p.links {
		l.frozen = true
	}
}

// heal resets every connection the cut caught and forwards new ones.
func (p *proxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
	for l := range p.links {
		if l.frozen {
			p.dropLocked(l, true)
		}
	}
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for l := range p.links {
		l.frozen = true
		p.dropLocked(l, true)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
