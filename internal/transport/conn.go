package transport

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"switchboard/internal/wire"
)

// Message kinds: the WebSocket opcodes, as gorilla names them.
const (
	Text   = websocket.TextMessage
	Binary = websocket.BinaryMessage
)

// Socket limits. Ping period and read timeout are given per connection;
// these apply to every connection.
const (
	writeWait      = 10 * time.Second // one batch of writes, or the close frame
	closeLinger    = time.Second      // time the peer gets to read a close frame
	QueueLen       = 4096             // queued messages per connection (the queue bound, with maxPending bytes)
	maxTooLargeSay = 1 << 20          // bytes discarded after a too-large message
)

// Write batching: the writer sends whatever is queued, up to these bounds,
// in one write system call (writev). Payloads up to inlineMax are copied
// next to their frame headers; larger ones are written from where they lie.
const (
	maxBatchMessages = 256
	maxBatchBytes    = 1 << 20
	inlineMax        = 4 << 10
	maxControlBody   = 125 // RFC 6455 §5.5
)

// Output coalescing (SendSoon).
const (
	coalesceFor   = 2 * time.Millisecond
	CoalesceBytes = 64 << 10
)

// Message is one message waiting for a connection's writer.
type Message struct {
	Kind  int // Text or Binary; the writer also queues close, ping and pong frames
	Data  []byte
	After func() // run by the writer once the message is written (or dropped)
	free  bool   // outside the queue's bounds (SendFree)
}

// Conn is one WebSocket peer. One goroutine at a time reads (ReadLoop),
// and one at a time writes: the holder of the writer role (writer.go).
// Everyone else queues without blocking, and a peer whose queue overflows
// is cut off, never waited for.
type Conn struct {
	// Static after construction.
	ws          *websocket.Conn
	log         *slog.Logger
	remote      string
	readTimeout time.Duration
	pingPeriod  time.Duration
	maxPending  int64         // bytes queued before the peer counts as slow
	coalesce    time.Duration // SendSoon's window: coalesceFor, or a test's
	metrics     *connMetrics
	pinger      *time.Timer // queues a ping every pingPeriod
	out         stream      // what the writer writes to: a plain socket or TLS over one
	inline      bool        // out can write without waiting (writeInline)
	sock        *socket     // the socket, when a read poller reads it (ws then does no I/O); else nil

	mu        sync.Mutex
	queue     []Message     // messages waiting for the writer, oldest first
	pending   int64         // bytes in queue
	state     writerState   // who holds the writer role (writer.go)
	space     chan struct{} // poked when the writer takes messages off a full queue
	soon      bool          // soonTimer will start a writer
	soonTimer *time.Timer   // SendSoon's delayed writer start

	closeOnce sync.Once
	closeMsg  []byte        // close frame body for CloseNow; set before kill closes
	closeWhy  atomic.Value  // string: why we closed, for metrics; unset means the peer left
	closing   atomic.Bool   // no more messages are queued once set
	kill      chan struct{} // closed to make the writer stop now
	readDone  chan struct{} // closed when the reader returns

	peerClosed *websocket.CloseError // the peer's close frame; set before the read ends
	done       chan struct{}         // closed when the socket is closed and the queue dropped

	// Owned by the holder of the writer role; handed on with it under mu.
	batch  []Message
	tail   bool // out holds the unwritten end of a frame writeInline began
	broken bool // a write failed: the stream may hold a partial frame

	afterTake func() // tests only: runs between taking a batch and writing it
}

// newConn wraps an upgraded connection. With sock (the socket detached
// from ws for a read poller) it reads and writes sock, and ws is kept only
// for its addresses. The caller starts the first writer (Start).
func newConn(ws *websocket.Conn, sock *socket, log *slog.Logger, readTimeout, pingPeriod time.Duration, maxPending int64, m *connMetrics) *Conn {
	m.open.Inc()
	if sock != nil {
		m.polled.Inc()
	}
	c := &Conn{
		metrics:     m,
		ws:          ws,
		sock:        sock,
		log:         log,
		remote:      ws.RemoteAddr().String(),
		readTimeout: readTimeout,
		pingPeriod:  pingPeriod,
		maxPending:  maxPending,
		coalesce:    coalesceFor,
		state:       writerGoroutine, // Start's writer
		space:       make(chan struct{}, 1),
		kill:        make(chan struct{}),
		readDone:    make(chan struct{}),
		done:        make(chan struct{}),
	}
	c.out = newStream(ws.NetConn(), sock)
	c.inline = c.out.canInline()
	// gorilla's default handlers answer from the reader goroutine with
	// WriteControl; the writer owns the socket, so they go through
	// control, as a poller's control frames do.
	ws.SetPingHandler(func(data string) error {
		c.control(websocket.PingMessage, []byte(data))
		return nil
	})
	ws.SetCloseHandler(func(code int, text string) error {
		var body []byte
		if code != websocket.CloseNoStatusReceived {
			body = websocket.FormatCloseMessage(code, text)
		}
		c.control(websocket.CloseMessage, body)
		return nil
	})
	return c
}

// Remote is the peer's address.
func (c *Conn) Remote() string { return c.remote }

// Done is closed once the connection is over: socket closed, queue dropped.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Killed is closed once the connection is being closed at once (CloseNow,
// or a cut-off): whoever waits to queue more should stop.
func (c *Conn) Killed() <-chan struct{} { return c.kill }

// Room is poked when the writer takes messages off a full queue (see
// SendIfRoom).
func (c *Conn) Room() <-chan struct{} { return c.space }

// SendMessage encodes and queues a protocol message.
func (c *Conn) SendMessage(m wire.Message) bool {
	return c.Send(Message{Kind: Text, Data: wire.MustEncode(m)})
}

// SendError queues an error message.
func (c *Conn) SendError(code, msg, requestID, commandID string) {
	c.SendMessage(&wire.Error{Code: code, Message: msg, RequestID: requestID, CommandID: commandID})
}

// Send queues m without blocking. A peer that has fallen more than
// maxPending bytes or QueueLen messages behind is disconnected.
func (c *Conn) Send(m Message) bool { return c.sendWithin(m, 0) }

// SendSoon is Send for output nobody is waiting on keystroke by
// keystroke: when no writer runs, one starts within coalesceFor (or once
// CoalesceBytes are queued), so that the output of many streams goes to a
// dashboard in a few writes, not one each. On loopback each write also
// costs the sender the receiver's TCP work and a wake-up of its reader.
func (c *Conn) SendSoon(m Message) bool { return c.sendWithin(m, c.coalesce) }

func (c *Conn) sendWithin(m Message, within time.Duration) bool {
	if c.closing.Load() {
		if m.After != nil {
			m.After()
		}
		return false
	}
	n := int64(len(m.Data))
	c.mu.Lock()
	if (c.pending+n > c.maxPending && n > 0) || len(c.queue) >= QueueLen {
		c.mu.Unlock()
		if m.After != nil {
			m.After()
		}
		c.cutOff()
		return false
	}
	c.queue = append(c.queue, m)
	c.pending += n
	c.queued(1, n)
	start := false
	switch {
	case within == 0 || c.pending >= CoalesceBytes:
		start = c.takeRoleLocked(writerGoroutine)
	case c.state == writerIdle && !c.soon:
		c.soon = true
		if c.soonTimer == nil {
			c.soonTimer = time.AfterFunc(within, c.writeSoon)
		} else {
			c.soonTimer.Reset(within)
		}
	}
	c.mu.Unlock()
	if start {
		go c.write()
	}
	return true
}

// writeSoon is SendSoon's timer: it becomes the writer, unless one ran
// meanwhile and left nothing.
func (c *Conn) writeSoon() {
	c.mu.Lock()
	c.soon = false
	start := len(c.queue) > 0 && c.takeRoleLocked(writerGoroutine)
	c.mu.Unlock()
	if start {
		c.write()
	}
}

// Lagging reports whether the peer is so far behind that it should not be
// sent n more bytes of live output: half its bounds are queued. Output it
// misses is sent later, paced; the bounds themselves are for everything
// else.
func (c *Conn) Lagging(n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending+int64(n) > c.maxPending/2 || len(c.queue) >= QueueLen/2
}

// SendNow is Send for the messages a person waits on: output and
// keystrokes. When the connection is idle, the caller writes m itself
// with one non-blocking system call instead of starting a writer: the
// handoff to a new goroutine costs each hop a wake-up. Whatever the socket
// does not take at once is left to a writer goroutine, so the caller never
// waits on the peer.
func (c *Conn) SendNow(m Message) bool {
	if !c.inline || m.After != nil || c.closing.Load() {
		return c.Send(m)
	}
	c.mu.Lock()
	if len(c.queue) > 0 || !c.takeRoleLocked(writerInline) {
		c.mu.Unlock()
		return c.Send(m) // busy: m waits its turn behind what is queued
	}
	c.mu.Unlock()
	c.writeInline(m)
	return true
}

// SendIfRoom queues m unless the peer's queue is full (then it neither
// waits nor cuts the peer off; Room signals room) or the connection is
// closing.
func (c *Conn) SendIfRoom(m Message) (queued, closing bool) {
	if c.closing.Load() {
		return false, true
	}
	c.mu.Lock()
	if len(c.queue) >= QueueLen {
		c.mu.Unlock()
		return false, false
	}
	c.queue = append(c.queue, m)
	c.pending += int64(len(m.Data))
	c.queued(1, int64(len(m.Data)))
	start := c.takeRoleLocked(writerGoroutine)
	c.mu.Unlock()
	if start {
		go c.write()
	}
	return true, false
}

// SendFree queues a text message outside the queue's bounds: it never
// cuts the peer off. For a snapshot of the relay's state, whose parts are
// shared by every dashboard joining at the same event rather than a copy
// each; only what is queued after it counts against the bounds.
func (c *Conn) SendFree(data []byte) {
	if c.closing.Load() {
		return
	}
	c.push(Message{Kind: Text, Data: data, free: true})
}

// sendControl queues a control frame (a ping or pong) outside the bounds.
func (c *Conn) sendControl(kind int, body []byte) {
	if c.closing.Load() {
		return
	}
	c.push(Message{Kind: kind, Data: controlBody(body)})
}

// push queues m outside the bounds and makes sure a writer will see it.
func (c *Conn) push(m Message) {
	c.mu.Lock()
	c.queue = append(c.queue, m)
	c.queued(1, 0)
	start := c.takeRoleLocked(writerGoroutine)
	c.mu.Unlock()
	if start {
		go c.write()
	}
}

// queued reports a change to what is queued (as in queue and pending) to
// the send-queue gauges; the caller holds mu.
func (c *Conn) queued(messages int, bytes int64) {
	c.metrics.queuedMessages.Add(float64(messages))
	c.metrics.queuedBytes.Add(float64(bytes))
}

// wakeWriter starts a writer if none runs, to notice the end of the
// connection (kill or readDone).
func (c *Conn) wakeWriter() {
	c.mu.Lock()
	start := c.takeRoleLocked(writerGoroutine)
	c.mu.Unlock()
	if start {
		go c.write()
	}
}

// cutOff disconnects a slow peer. It never blocks: the writer does the work.
func (c *Conn) cutOff() {
	c.mu.Lock()
	pending := c.pending
	c.mu.Unlock()
	c.log.Warn("disconnecting slow consumer", "remote", c.remote, "pending_bytes", pending)
	c.SetWhy("slow_consumer")
	// A writer stuck on this peer has closeLinger to finish its write, so
	// that a peer that reads again learns why it is cut off.
	c.CloseNow(wire.CloseSlowConsumer, "slow consumer: send queue full; reconnect and resume from your offsets")
}

// SetWhy records the first reason we close for, as a metrics label.
func (c *Conn) SetWhy(why string) {
	c.closeWhy.CompareAndSwap(nil, why)
}

// Why is the reason recorded by SetWhy, or "" if the peer left.
func (c *Conn) Why() string {
	why, _ := c.closeWhy.Load().(string)
	return why
}

// Close queues a close frame behind what is already queued.
func (c *Conn) Close(code int, reason string) {
	c.closeWith(websocket.FormatCloseMessage(code, reason))
}

func (c *Conn) closeWith(body []byte) {
	if c.closing.Swap(true) {
		return
	}
	c.push(Message{Kind: websocket.CloseMessage, Data: controlBody(body)})
}

// CloseNow makes the writer send a close frame at once, dropping the
// queue. It never blocks: a writer stuck on a peer that stopped reading
// gives up within closeLinger.
func (c *Conn) CloseNow(code int, reason string) {
	c.closing.Store(true)
	c.closeOnce.Do(func() {
		c.log.Debug("closing connection", "remote", c.remote, "code", code, "reason", reason)
		c.closeMsg = controlBody(websocket.FormatCloseMessage(code, reason))
		close(c.kill)
		c.out.setWriteDeadline(time.Now().Add(closeLinger))
	})
	c.wakeWriter()
}

// controlBody cuts a control frame's body to the protocol's limit.
func controlBody(b []byte) []byte {
	if b == nil {
		b = []byte{}
	}
	if len(b) <= maxControlBody {
		return b
	}
	b = b[:maxControlBody]
	for len(b) > 2 && !utf8.Valid(b[2:]) { // keep the reason valid UTF-8
		b = b[:len(b)-1]
	}
	return b
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
