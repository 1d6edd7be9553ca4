package transport

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure an Engine.
type Options struct {
	Logger *slog.Logger
	// Registry gets the connections' metrics.
	Registry prometheus.Registerer
	// CheckOrigin decides whether a browser's cross-origin WebSocket
	// request may be upgraded (gorilla's Upgrader.CheckOrigin).
	CheckOrigin func(*http.Request) bool
	// NoReadPoller gives every connection a reader goroutine of its own,
	// instead of reading those that ask for it (Accept's polled) from a
	// few epoll pollers (Linux; TLS connections only when accepted
	// through Listener).
	NoReadPoller bool
}

// Accept says how to run one connection.
type Accept struct {
	Kind        string        // metrics label: "agent" or "dashboard"
	ReadTimeout time.Duration // silence after which the peer is gone; pings go every third of it
	MaxPending  int64         // bytes queued before the peer is cut off
	// Polled asks for a read poller: the connection's handler never
	// blocks (it takes short locks and queues), so one poller goroutine
	// can run the handlers of many connections.
	Polled bool
}

// Engine upgrades HTTP requests to Conns and runs the read pollers.
type Engine struct {
	log      *slog.Logger
	upgrader websocket.Upgrader
	metrics  *metrics
	pollers  *pollers // nil when not used
}

// NewEngine starts the read pollers (one per P), unless o says not to or
// the system has no epoll.
func NewEngine(o Options) *Engine {
	e := &Engine{log: o.Logger, metrics: newMetrics(o.Registry)}
	// No buffer sizes: gorilla then reuses net/http's 4 KiB buffers, and
	// the Conn's writer frames messages itself, so a write buffer of its
	// own would sit unused in every idle connection.
	e.upgrader = websocket.Upgrader{CheckOrigin: o.CheckOrigin}
	if !o.NoReadPoller {
		var err error
		if e.pollers, err = newPollers(runtime.GOMAXPROCS(0), o.Logger); err != nil {
			o.Logger.Info("agents get a reader goroutine each", "why", err)
		}
	}
	return e
}

// Upgrade turns an HTTP request into a Conn. The caller starts it (Start)
// and reads it (ReadFirst, ReadLoop).
func (e *Engine) Upgrade(w http.ResponseWriter, req *http.Request, a Accept) (*Conn, error) {
	ws, err := e.upgrader.Upgrade(w, req, nil)
	if err != nil {
		return nil, fmt.Errorf("websocket upgrade: %w", err)
	}
	var sock *socket
	if a.Polled && e.pollers != nil {
		switch nc := ws.NetConn().(type) {
		case *net.TCPConn:
			sock, err = e.pollers.detach(nc)
		case *tls.Conn:
			if conn, ok := nc.NetConn().(*tlsConn); ok { // accepted by Listener
				sock, err = e.pollers.detachTLS(nc, conn)
			}
		}
		if err != nil {
			e.log.Warn("connection gets a reader goroutine", "remote", req.RemoteAddr, "err", err)
		}
	}
	return newConn(ws, sock, e.log, a.ReadTimeout, a.ReadTimeout/3, a.MaxPending, e.metrics.forKind(a.Kind)), nil
}

// Stop ends the read pollers. Every Conn must be over first.
func (e *Engine) Stop() {
	if e.pollers != nil {
		e.pollers.stop()
	}
}

// Polled reports whether a read poller reads the connection's socket.
func (c *Conn) Polled() bool { return c.sock != nil }
