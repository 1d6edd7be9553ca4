package relay

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"switchboard/internal/addrlimit"
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
// address and in total (addrlimit.Gate, as the SSH server's), and the TCP
// connections ConnState reported, by connection.
type gate struct {
	*addrlimit.Gate

	mu    sync.Mutex
	conns map[net.Conn]string // TCP connections counted by enterConn, and their address
}

func newGate(perAddr, total int) *gate {
	return &gate{Gate: addrlimit.NewGate(perAddr, total), conns: make(map[net.Conn]string)}
}

// enterConn is Enter for a TCP connection that ConnState reports.
func (g *gate) enterConn(c net.Conn, addr string) error {
	if err := g.Enter(addr); err != nil {
		return err
	}
	g.mu.Lock()
	g.conns[c] = addr
	g.mu.Unlock()
	return nil
}

// leaveConn is Leave for a connection enterConn counted; others are ignored.
func (g *gate) leaveConn(c net.Conn) {
	g.mu.Lock()
	addr, ok := g.conns[c]
	delete(g.conns, c)
	g.mu.Unlock()
	if ok {
		g.Leave(addr)
	}
}

// addrKey is the address limits are kept per (addrlimit.Key): the IP
// address, or for IPv6 its /64, which one host usually holds whole.
func addrKey(remote string) string { return addrlimit.Key(remote) }

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
// The caller calls r.gate.Leave(addr) once the connection has
// authenticated or ended.
func (r *Relay) admitUnauthenticated(w http.ResponseWriter, req *http.Request) (addr string, ok bool) {
	addr = addrKey(req.RemoteAddr)
	if wait, blocked := r.failures.Blocked(addr, time.Now()); blocked {
		r.metrics.refused.WithLabelValues("auth_failures").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+1)))
		http.Error(w, fmt.Sprintf("too many failed authentications from %s: try again in %s", addr, wait.Round(time.Second)), http.StatusTooManyRequests)
		return addr, false
	}
	if err := r.gate.Enter(addr); err != nil {
		r.metrics.refused.WithLabelValues("unauthenticated_limit").Inc()
		w.Header().Set("Retry-After", "1")
		http.Error(w, err.Error(), http.StatusTooManyRequests)
		return addr, false
	}
	return addr, true
}
