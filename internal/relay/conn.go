package relay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/wire"
)

// Socket limits. Ping period and read timeout come from Config per kind
// of peer; these apply to every connection.
const (
	writeWait      = 10 * time.Second // one write, or the close frame
	closeLinger    = time.Second      // time the peer gets to read a close frame
	sendQueueLen   = 4096             // queued messages per connection
	catchUpWindow  = 8                // catch-up frames in flight per connection
	maxTooLargeSay = 1 << 20          // bytes discarded after a too-large message
)

var errTooLarge = errors.New("message too large")

// outbound is one message waiting for a connection's writer.
type outbound struct {
	kind  int // websocket.TextMessage, BinaryMessage or CloseMessage
	data  []byte
	after func() // run by the writer once the message is written (or dropped)
}

// conn is one WebSocket peer. The writer goroutine alone writes to ws; the
// reader goroutine alone reads. Everyone else queues through send without
// blocking, and a peer whose queue overflows is cut off, never waited for.
type conn struct {
	// Static after construction.
	ws          *websocket.Conn
	log         *slog.Logger
	remote      string
	readTimeout time.Duration
	pingPeriod  time.Duration
	maxPending  int64 // bytes queued before the peer counts as slow
	metrics     *connMetrics

	send    chan outbound
	pending atomic.Int64 // bytes in send

	closeOnce  sync.Once
	closeFrame []byte        // set once, before kill closes
	closeWhy   atomic.Value  // string: why we closed, for metrics; unset means the peer left
	closing    atomic.Bool   // no more messages are queued once set
	kill       chan struct{} // closed to make the writer stop now
	readDone   chan struct{} // closed when the reader returns
	done       chan struct{} // closed when the writer has closed the socket
}

func newConn(ws *websocket.Conn, log *slog.Logger, readTimeout, pingPeriod time.Duration, maxPending int64, m *connMetrics) *conn {
	m.open.Inc()
	return &conn{
		metrics:     m,
		ws:          ws,
		log:         log,
		remote:      ws.RemoteAddr().String(),
		readTimeout: readTimeout,
		pingPeriod:  pingPeriod,
		maxPending:  maxPending,
		send:        make(chan outbound, sendQueueLen),
		kill:        make(chan struct{}),
		readDone:    make(chan struct{}),
		done:        make(chan struct{}),
	}
}

// sendMessage queues a control message.
func (c *conn) sendMessage(m wire.Message) bool {
	return c.enqueue(outbound{kind: websocket.TextMessage, data: wire.MustEncode(m)})
}

// sendError queues an error message.
func (c *conn) sendError(code, msg, requestID, commandID string) {
	c.sendMessage(&wire.Error{Code: code, Message: msg, RequestID: requestID, CommandID: commandID})
}

// enqueue queues m without blocking. A peer that has fallen more than
// maxPending bytes or sendQueueLen messages behind is disconnected.
func (c *conn) enqueue(m outbound) bool {
	if c.closing.Load() {
		if m.after != nil {
			m.after()
		}
		return false
	}
	n := int64(len(m.data))
	if c.pending.Add(n) > c.maxPending && n > 0 {
		c.pending.Add(-n)
		c.cutOff()
		return false
	}
	select {
	case c.send <- m:
		return true
	default:
		c.pending.Add(-n)
		c.cutOff()
		return false
	}
}

// enqueueWait queues m, waiting while the peer's queue is full. Only a
// connection's own reader may call it, for traffic it paces itself.
func (c *conn) enqueueWait(m outbound) bool {
	if c.closing.Load() {
		return false
	}
	c.pending.Add(int64(len(m.data)))
	select {
	case c.send <- m:
		return true
	case <-c.kill:
		c.pending.Add(-int64(len(m.data)))
		return false
	}
}

// cutOff disconnects a slow peer. It never blocks: the writer does the work.
func (c *conn) cutOff() {
	c.log.Warn("disconnecting slow consumer", "remote", c.remote, "pending_bytes", c.pending.Load())
	c.setWhy("slow_consumer")
	c.closeNow(wire.CloseSlowConsumer, "slow consumer: send queue full; reconnect and resume from your offsets")
	// The writer may be stuck writing to this peer: fail that write now.
	// (net.Conn deadlines are safe to set from any goroutine.)
	_ = c.ws.NetConn().SetWriteDeadline(time.Now())
}

// setWhy records the first reason we close for, as a metrics label.
func (c *conn) setWhy(why string) {
	c.closeWhy.CompareAndSwap(nil, why)
}

// closeGracefully queues a close frame behind what is already queued.
func (c *conn) closeGracefully(code int, reason string) {
	if c.closing.Swap(true) {
		return
	}
	select {
	case c.send <- outbound{kind: websocket.CloseMessage, data: websocket.FormatCloseMessage(code, reason)}:
	default:
		c.closeNow(code, reason)
	}
}

// closeNow makes the writer send a close frame at once, dropping the queue.
//
// It never blocks, so it may be called under any lock: the writer sends
// the close frame when it sees kill.
func (c *conn) closeNow(code int, reason string) {
	c.closing.Store(true)
	c.closeOnce.Do(func() {
		c.log.Debug("closing connection", "remote", c.remote, "code", code, "reason", reason)
		c.closeFrame = websocket.FormatCloseMessage(code, reason) // read by the writer after kill closes
		close(c.kill)
	})
}

// writeLoop owns the socket's write side until the connection ends.
func (c *conn) writeLoop() {
	ping := time.NewTicker(c.pingPeriod)
	defer func() {
		ping.Stop()
		c.ws.Close()
		c.drainQueue()
		why, _ := c.closeWhy.Load().(string)
		if why == "" {
			why = "peer"
		}
		c.metrics.disconnects.WithLabelValues(c.metrics.kind, why).Inc()
		c.metrics.open.Dec()
		close(c.done)
	}()
	for {
		select {
		case m := <-c.send:
			c.pending.Add(-int64(len(m.data)))
			if m.kind == websocket.CloseMessage {
				c.closeOnce.Do(func() { close(c.kill) })
				_ = c.ws.WriteControl(websocket.CloseMessage, m.data, time.Now().Add(writeWait))
				c.linger()
				return
			}
			if err := c.write(m); err != nil {
				c.log.Debug("write failed", "remote", c.remote, "err", err)
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				return
			}
		case <-c.kill:
			if c.closeFrame != nil {
				_ = c.ws.WriteControl(websocket.CloseMessage, c.closeFrame, time.Now().Add(time.Second))
			}
			c.linger()
			return
		case <-c.readDone:
			c.flushQueued()
			return
		}
	}
}

// flushQueued writes what is still queued after the peer stopped sending,
// briefly: an error and close frame queued just before must still go out.
func (c *conn) flushQueued() {
	deadline := time.Now().Add(closeLinger)
	for {
		select {
		case m := <-c.send:
			c.pending.Add(-int64(len(m.data)))
			if m.kind == websocket.CloseMessage {
				_ = c.ws.WriteControl(websocket.CloseMessage, m.data, deadline)
				return
			}
			_ = c.ws.SetWriteDeadline(deadline)
			if err := c.ws.WriteMessage(m.kind, m.data); err != nil {
				return
			}
			if m.after != nil {
				m.after()
			}
		default:
			return
		}
	}
}

func (c *conn) write(m outbound) error {
	if m.after != nil {
		defer m.after()
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeWait))
	c.metrics.messagesOut.Inc()
	c.metrics.bytesOut.Add(float64(len(m.data)))
	return c.ws.WriteMessage(m.kind, m.data)
}

// linger gives the peer a moment to read our close frame before the socket
// is closed, so that it learns the reason instead of seeing a reset.
func (c *conn) linger() {
	select {
	case <-c.readDone:
	case <-time.After(closeLinger):
	}
}

// drainQueue runs the callbacks of messages that will never be written, so
// nobody waits on them.
func (c *conn) drainQueue() {
	for {
		select {
		case m := <-c.send:
			c.pending.Add(-int64(len(m.data)))
			if m.after != nil {
				m.after()
			}
		default:
			return
		}
	}
}

// readLoop reads messages until the connection fails or closes, handing
// each to handle. It enforces the size limit itself so that it can say why
// it closes.
func (c *conn) readLoop(handle func(kind int, data []byte)) error {
	defer close(c.readDone)
	c.ws.SetReadLimit(0)
	_ = c.ws.SetReadDeadline(time.Now().Add(c.readTimeout))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(c.readTimeout))
	})
	for {
		kind, r, err := c.ws.NextReader()
		if err != nil {
			return err
		}
		data, err := readLimited(r, wire.MaxMessageSize)
		if errors.Is(err, errTooLarge) {
			msg := fmt.Sprintf("message exceeds %d bytes", wire.MaxMessageSize)
			c.log.Warn("refusing oversized message", "remote", c.remote, "limit", wire.MaxMessageSize)
			c.setWhy("too_large")
			c.sendError(wire.CodeTooLarge, msg, "", "")
			c.closeGracefully(wire.CloseTooBig, msg)
			_, _ = io.CopyN(io.Discard, r, maxTooLargeSay)
			return fmt.Errorf("read message: %w", err)
		}
		if err != nil {
			return fmt.Errorf("read message: %w", err)
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(c.readTimeout))
		c.metrics.messagesIn.Inc()
		c.metrics.bytesIn.Add(float64(len(data)))
		handle(kind, data)
	}
}

// readLimited reads a whole message of at most limit bytes.
func readLimited(r io.Reader, limit int) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if n > int64(limit) {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}
