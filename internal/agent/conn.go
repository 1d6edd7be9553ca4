package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"

	"switchboard/internal/relayring"
	"switchboard/internal/wire"
)

// Socket limits.
const (
	writeWait        = 10 * time.Second // one write
	handshakeWait    = 10 * time.Second // dial plus welcome
	readWait         = 30 * time.Second // silence, pings included, before the relay counts as gone
	pingPeriod       = 10 * time.Second // our own pings, so a silent relay is noticed even if it never pings
	stableAfter      = 10 * time.Second // a connection this old resets the backoff
	defaultHeartbeat = 5 * time.Second  // if welcome does not say
	frameOverhead    = 1024             // an output frame's bytes besides its data, with room to spare
)

// relayConn is one welcomed connection to the relay. The writer goroutine
// alone writes to ws (WriteControl, which gorilla allows concurrently,
// excepted); the reader goroutine alone reads.
type relayConn struct {
	// Static after the handshake.
	ws        *websocket.Conn
	endpoint  string // the relay's agent WebSocket URL
	heartbeat time.Duration
	resume    map[string]int64 // welcome.resume: where the relay wants each held command from
	wake      chan struct{}    // capacity 1; a value means "the agent's state changed, look again"
	timing    bool             // the relay takes timed frames (welcome.timing)

	replies []outMsg // guarded by Agent.mu: answers to the relay, such as errors, for the writer
}

// maxReplies bounds the answers waiting for the writer; past it they are
// dropped, as they are only ever errors about the relay's own requests.
const maxReplies = 64

// reply queues m for the writer; the caller holds Agent.mu and wakes it.
func (rc *relayConn) reply(m wire.Message) {
	if len(rc.replies) < maxReplies {
		rc.replies = append(rc.replies, text(m))
	}
}

// connectLoop keeps a connection to a relay until ctx ends or the agent
// has shut down, reconnecting with exponential backoff and jitter, to the
// relay the ring picks (internal/relayring: stay on a relay whose
// connection was stable, else move to the next).
func (a *Agent) connectLoop(ctx context.Context) {
	b := backoff{min: a.cfg.ReconnectMin, max: a.cfg.ReconnectMax}
	relays := relayring.New(a.endpoints, stableAfter)
	for {
		url := relays.Current()
		lasted, err := a.connectOnce(ctx, url)
		if ctx.Err() != nil || a.stopping.Err() != nil {
			return
		}
		next := relays.After(lasted)
		t := time.NewTimer(a.retryDelay(&b, url, next, lasted, err))
		select {
		case <-ctx.Done():
		case <-a.stopping.Done():
		case <-t.C:
			continue
		}
		t.Stop()
		return
	}
}

// retryDelay logs why the connection to url ended and picks the wait
// before the next attempt, at next. Being replaced by another connection
// with our id, or refused at hello (protocol version, credentials), will
// not fix itself by retrying fast, so those wait the longest backoff.
func (a *Agent) retryDelay(b *backoff, url, next string, lasted time.Duration, err error) time.Duration {
	if lasted >= stableAfter {
		b.reset()
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case wire.CloseReplaced:
			d := b.slowest()
			a.log.Error("the relay closed this connection because another agent connected with the same id; "+
				"two agents must not share an id (check --id and the state directory)",
				"url", url, "id", a.cfg.ID, "reason", ce.Text, "next", next, "retry_in", d)
			return d
		case wire.CloseUnsupportedVersion, wire.CloseBadHandshake, wire.CloseUnauthorized:
			d := b.slowest()
			a.log.Error("the relay refused this agent's hello; its reason says what to fix",
				"url", url, "code", ce.Code, "reason", ce.Text, "protocol", wire.ProtocolVersion, "next", next, "retry_in", d)
			return d
		}
	}
	d := b.next()
	if next != url {
		a.log.Warn("not connected to the relay; trying the next one", "url", url, "err", err, "next", next, "retry_in", d)
	} else {
		a.log.Warn("not connected to the relay; retrying", "url", url, "err", err, "retry_in", d)
	}
	return d
}

// connectOnce runs one connection to the relay at url: dial, hello,
// welcome, then a reader and a writer until either fails. It reports how
// long the connection was up.
func (a *Agent) connectOnce(ctx context.Context, url string) (time.Duration, error) {
	rc, err := a.connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer rc.ws.Close()
	// Reads and writes do not watch ctx; closing the socket ends them.
	defer context.AfterFunc(ctx, func() { rc.ws.Close() })()
	up := time.Now()
	a.log.Info("connected to the relay", "url", url, "id", a.cfg.ID)
	a.setConn(rc)
	defer a.clearConn(rc)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.readLoop(rc) })
	g.Go(func() error { return a.writeLoop(gctx, rc) })
	return time.Since(up), g.Wait()
}

// connect dials the relay and trades hello for welcome. A shutdown
// abandons it; once welcomed, a shutdown is the writer's to finish, as it
// must first deliver the final exits.
func (a *Agent) connect(ctx context.Context, url string) (*relayConn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(a.stopping, cancel)()
	ws, err := a.dial(ctx, url)
	if err != nil {
		return nil, err
	}
	defer context.AfterFunc(ctx, func() { ws.Close() })()
	rc, err := a.handshake(ws, url)
	if err != nil {
		ws.Close()
		return nil, err
	}
	return rc, nil
}

func (a *Agent) dial(ctx context.Context, url string) (*websocket.Conn, error) {
	// A write buffer that holds a whole output frame: with gorilla's
	// default 4 KiB, a 256 KiB frame went out as 64 fragments, one
	// system call each, and the agent drained the terminal slower.
	d := websocket.Dialer{HandshakeTimeout: handshakeWait, Proxy: http.ProxyFromEnvironment, TLSClientConfig: a.cfg.TLS,
		WriteBufferSize: wire.MaxChunk + frameOverhead}
	ws, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (HTTP %s)", url, err, resp.Status)
		}
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	ws.SetReadLimit(wire.MaxMessageSize)
	return ws, nil
}

// handshake sends hello, with every command the agent still holds, and
// waits for welcome.
func (a *Agent) handshake(ws *websocket.Conn, url string) (*relayConn, error) {
	a.mu.Lock()
	hello := &wire.Hello{Protocol: wire.ProtocolVersion, Client: "switchboard-agent/" + a.cfg.Version,
		Token: a.cfg.Token, Agent: &a.info, Holding: a.holdingLocked()}
	a.mu.Unlock()
	_ = ws.SetWriteDeadline(time.Now().Add(writeWait))
	if err := ws.WriteMessage(websocket.TextMessage, wire.MustEncode(hello)); err != nil {
		return nil, fmt.Errorf("send hello: %w", err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(handshakeWait))
	for {
		kind, data, err := ws.ReadMessage()
		if err != nil {
			return nil, fmt.Errorf("wait for welcome: %w", err)
		}
		if kind != websocket.TextMessage {
			return nil, errors.New("wait for welcome: relay sent a binary message first")
		}
		m, err := wire.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("wait for welcome: %w", err)
		}
		switch m := m.(type) {
		case *wire.Welcome:
			return a.newRelayConn(ws, url, m), nil
		case *wire.Error:
			// A refusal: the close that follows says what to do next.
			a.log.Error("the relay refused the hello", "code", m.Code, "message", m.Message)
		default:
			return nil, fmt.Errorf("wait for welcome: relay sent %q first", m.MessageType())
		}
	}
}

func (a *Agent) newRelayConn(ws *websocket.Conn, url string, w *wire.Welcome) *relayConn {
	if w.Protocol != wire.ProtocolVersion {
		a.log.Warn("relay welcomed us with another protocol version", "relay", w.Protocol, "agent", wire.ProtocolVersion)
	}
	rc := &relayConn{
		ws:        ws,
		endpoint:  url,
		heartbeat: time.Duration(w.HeartbeatMS) * time.Millisecond,
		resume:    make(map[string]int64, len(w.Resume)),
		wake:      make(chan struct{}, 1),
		timing:    w.Timing,
	}
	if rc.heartbeat <= 0 {
		rc.heartbeat = defaultHeartbeat
	}
	for _, r := range w.Resume {
		rc.resume[r.CommandID] = max(r.Offset, 0)
	}
	return rc
}

func (a *Agent) setConn(rc *relayConn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.conn = rc
	a.notifyLocked() // resend what the relay is missing
}

func (a *Agent) clearConn(rc *relayConn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn == rc {
		a.conn = nil
	}
}

// notifyLocked wakes the writer, if connected.
func (a *Agent) notifyLocked() {
	if a.conn != nil {
		a.conn.poke()
	}
}

func (rc *relayConn) poke() {
	select {
	case rc.wake <- struct{}{}:
	default:
	}
}

// readLoop handles the relay's messages until the connection fails.
func (a *Agent) readLoop(rc *relayConn) error {
	ws := rc.ws
	// The deadline moves at most every readWait/16, not on each message:
	// moving it costs more than reading a keystroke.
	var renewed time.Time
	extend := func() {
		if now := time.Now(); now.Sub(renewed) > readWait/16 {
			renewed = now
			_ = ws.SetReadDeadline(now.Add(readWait))
		}
	}
	extend()
	ws.SetPongHandler(func(string) error { extend(); return nil })
	ws.SetPingHandler(func(data string) error {
		extend()
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeWait))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	for {
		kind, data, err := ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("read from relay: %w", err)
		}
		extend()
		a.dispatch(kind, data)
	}
}

func (a *Agent) dispatch(kind int, data []byte) {
	if kind == websocket.BinaryMessage {
		a.dispatchFrame(data)
		return
	}
	m, err := wire.Decode(data)
	if err != nil {
		a.log.Warn("ignoring a message from the relay", "err", err)
		return
	}
	switch m := m.(type) {
	case *wire.Start:
		a.start(m.Command)
	case *wire.Resize:
		a.resize(m)
	case *wire.Cancel:
		a.cancel(m)
	case *wire.Ack:
		a.ack(m)
	case *wire.RestartSession:
		a.restartSession()
	case *wire.Error:
		a.log.Warn("the relay reported an error", "code", m.Code, "message", m.Message, "command_id", m.CommandID)
	default:
		a.log.Debug("ignoring a message the agent has no use for", "type", m.MessageType())
	}
}

func (a *Agent) dispatchFrame(data []byte) {
	f, err := wire.ParseFrame(data)
	if err == nil && f.Kind != wire.FrameInput {
		err = fmt.Errorf("frame kind %d is not input", f.Kind)
	}
	if err != nil {
		a.log.Warn("ignoring a binary message from the relay", "err", err)
		return
	}
	// f.Data aliases data, which ReadMessage allocated for this message alone.
	a.input(f.CommandID, f.Data)
}

// backoff is an exponential reconnect delay with jitter.
type backoff struct{ min, max, cur time.Duration }

func (b *backoff) next() time.Duration {
	d := max(b.cur, b.min)
	b.cur = min(2*d, b.max)
	return jitter(d)
}

func (b *backoff) slowest() time.Duration {
	b.cur = b.max
	return jitter(b.max)
}

func (b *backoff) reset() { b.cur = 0 }

// jitter spreads d over [d/2, d], so agents cut off together do not all
// come back in the same instant.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}
