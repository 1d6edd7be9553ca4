package relay

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// What a peer that has not authenticated may cost: a connection that has
// not yet completed its hello holds a goroutine and up to one message
// (1 MiB) for at most the handshake timeout, and a TCP connection that has
// sent no request holds net/http's buffers. The gate bounds how many of
// them there are, per remote address and in total; failures throttles
// addresses that keep failing to authenticate. Both answer before the
// WebSocket upgrade, with HTTP 429, so a refused peer costs no more than
// its request headers.

// gate counts the connections that have not authenticated yet, per
// address (an IPv4 address, or an IPv6 /64) and in total.
type gate struct {
	perAddr, total int

	mu     sync.Mutex
	n      int
	byAddr map[string]int
	conns  map[net.Conn]string // TCP connections counted by enterConn, and their address
}

func newGate(perAddr, total int) *gate {
	return &gate{perAddr: perAddr, total: total, byAddr: make(map[string]int), conns: make(map[net.Conn]string)}
}

// enter counts one more connection from addr, or reports why it may not.
func (g *gate) enter(addr string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.byAddr[addr] >= g.perAddr:
		return fmt.Errorf("%d connections from %s have not authenticated yet, the limit", g.byAddr[addr], addr)
	case g.n >= g.total:
		return fmt.Errorf("%d connections have not authenticated yet, the limit", g.n)
	}
	g.byAddr[addr]++
	g.n++
	return nil
}

// leave undoes enter.
func (g *gate) leave(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.leaveLocked(addr)
}

func (g *gate) leaveLocked(addr string) {
	g.n--
	if g.byAddr[addr]--; g.byAddr[addr] <= 0 {
		delete(g.byAddr, addr)
	}
}

// enterConn is enter for a TCP connection that ConnState reports.
func (g *gate) enterConn(c net.Conn, addr string) error {
	if err := g.enter(addr); err != nil {
		return err
	}
	g.mu.Lock()
	g.conns[c] = addr
	g.mu.Unlock()
	return nil
}

// leaveConn is leave for a connection enterConn counted; others are ignored.
func (g *gate) leaveConn(c net.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if addr, ok := g.conns[c]; ok {
		delete(g.conns, c)
		g.leaveLocked(addr)
	}
}

// addrKey is the address limits are kept per: the IP address, or for
// IPv6 its /64, which one host usually holds whole.
func addrKey(remote string) string {
	ip := net.ParseIP(remoteIP(remote))
	if ip == nil {
		return remoteIP(remote)
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// tcpGateFactor is how many more TCP connections that have not sent a
// request an address (and the relay) may have than WebSockets waiting for
// their hello: they cost a few KiB each, not up to a message, and a
// WebSocket refused for its own limit then gets an HTTP 429 that says so
// rather than a reset.
const tcpGateFactor = 4

// Serve wires srv's connection hooks to the relay, so that TCP
// connections are counted from their arrival. Without it only WebSockets
// are counted, from their request on.
func (r *Relay) Serve(srv *http.Server) {
	srv.ConnState = r.connState
}

// connState counts a TCP connection (idle between requests too) from its
// arrival until it closes or is upgraded to a WebSocket (counted by the WebSocket's own gate until its
// hello is authenticated), and closes at once a connection over the limits.
func (r *Relay) connState(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		if err := r.tcpGate.enterConn(c, addrKey(c.RemoteAddr().String())); err != nil {
			r.metrics.refused.WithLabelValues("unauthenticated_limit").Inc()
			r.log.Debug("refusing a connection", "remote", c.RemoteAddr().String(), "why", err)
			_ = c.Close()
		}
	case http.StateHijacked, http.StateClosed:
		r.tcpGate.leaveConn(c)
	}
}

// admitUnauthenticated decides, before the upgrade, whether a WebSocket
// request may wait for its hello, and answers a refusal with HTTP 429.
// The caller calls r.gate.leave(addr) once the connection has
// authenticated or ended.
func (r *Relay) admitUnauthenticated(w http.ResponseWriter, req *http.Request) (addr string, ok bool) {
	addr = addrKey(req.RemoteAddr)
	if wait, blocked := r.failures.blocked(addr, time.Now()); blocked {
		r.metrics.refused.WithLabelValues("auth_failures").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+1)))
		http.Error(w, fmt.Sprintf("too many failed authentications from %s: try again in %s", addr, wait.Round(time.Second)), http.StatusTooManyRequests)
		return addr, false
	}
	if err := r.gate.enter(addr); err != nil {
		r.metrics.refused.WithLabelValues("unauthenticated_limit").Inc()
		w.Header().Set("Retry-After", "1")
		http.Error(w, err.Error(), http.StatusTooManyRequests)
		return addr, false
	}
	return addr, true
}

// maxThrottled bounds the addresses failures remembers.
const maxThrottled = 4096

// failures throttles authentication per address: each address has a
// budget of failures (perMinute, refilled evenly over a minute); once it
// is spent, its connections and logins are refused before their token is
// looked at.
type failures struct {
	perMinute int

	mu     sync.Mutex
	byAddr map[string]*rate.Limiter
}

func newFailures(perMinute int) *failures {
	return &failures{perMinute: perMinute, byAddr: make(map[string]*rate.Limiter)}
}

// blocked reports whether addr has spent its budget, and how long until
// it may try again.
func (f *failures) blocked(addr string, now time.Time) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.byAddr[addr]
	if l == nil || l.TokensAt(now) >= 1 {
		return 0, false
	}
	return time.Duration((1 - l.TokensAt(now)) / float64(l.Limit()) * float64(time.Second)), true
}

// failed spends one failure of addr's budget.
func (f *failures) failed(addr string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.byAddr[addr]
	if l == nil {
		if len(f.byAddr) >= maxThrottled {
			f.forgetRecoveredLocked(now)
		}
		l = rate.NewLimiter(rate.Limit(float64(f.perMinute)/60), f.perMinute)
		f.byAddr[addr] = l
	}
	l.AllowN(now, 1)
}

// forgetRecoveredLocked drops the addresses whose budget is whole again,
// and when none is, half of the others: an attacker with more addresses
// than this keeps would get a fresh budget from each new one anyway.
func (f *failures) forgetRecoveredLocked(now time.Time) {
	for addr, l := range f.byAddr {
		if l.TokensAt(now) >= float64(f.perMinute) {
			delete(f.byAddr, addr)
		}
	}
	for addr := range f.byAddr {
		if len(f.byAddr) < maxThrottled/2 {
			break
		}
		delete(f.byAddr, addr)
	}
}
