package sshd

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"sync"
)

// loopbackURL is where a session's dashboard client finds the relay: the
// dialer ignores the address and hands the client one end of an
// in-memory connection, whose other end the relay's HTTP handler serves.
// "localhost" passes the relay's Host check whatever --allowed-host says.
const loopbackURL = "ws://localhost"

// loopback is a net.Listener of in-memory connections: each dial makes a
// pipe, whose server end Accept returns with the SSH client's address as
// its remote address, so the relay's audit trail, command records and
// per-address limits name the user's machine, not the relay's.
type loopback struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newLoopback() *loopback {
	return &loopback{conns: make(chan net.Conn), closed: make(chan struct{})}
}

// dial connects to the listener as remote.
func (l *loopback) dial(ctx context.Context, remote net.Addr) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- &addrConn{Conn: server, remote: remote}:
		return client, nil
	case <-l.closed:
		err := &net.OpError{Op: "dial", Net: "pipe", Err: net.ErrClosed}
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *loopback) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *loopback) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *loopback) Addr() net.Addr { return pipeAddr{} }

// addrConn is a pipe end that reports the SSH client's address.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c *addrConn) RemoteAddr() net.Addr { return c.remote }
func (c *addrConn) LocalAddr() net.Addr  { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "switchboard-ssh" }

// sessionCookie is a cookie jar holding one cookie, for every URL: the
// server-side session a dashboard client authenticates with.
type sessionCookie struct{ c *http.Cookie }

func (j sessionCookie) SetCookies(*url.URL, []*http.Cookie) {}
func (j sessionCookie) Cookies(*url.URL) []*http.Cookie     { return []*http.Cookie{j.c} }
