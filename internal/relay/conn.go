package relay

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"switchboard/internal/wire"
)

// Socket limits. Ping period and read timeout come from Config per kind
// of peer; these apply to every connection.
const (
	writeWait      = 10 * time.Second // one batch of writes, or the close frame
	closeLinger    = time.Second      // time the peer gets to read a close frame
	sendQueueLen   = 4096             // queued messages per connection
	catchUpWindow  = 8                // catch-up frames in flight per connection
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

// Output coalescing for dashboards (enqueueSoon).
const (
	coalesceFor   = 2 * time.Millisecond
	coalesceBytes = 64 << 10
)

// outbound is one message waiting for a connection's writer.
type outbound struct {
	kind  int // websocket.TextMessage, BinaryMessage, CloseMessage, PingMessage or PongMessage
	data  []byte
	after func() // run by the writer once the message is written (or dropped)
	free  bool   // outside the queue's bounds: a snapshot part (enqueueFree)
}

// stream is the socket a conn's writer writes: the net.Conn gorilla
// upgraded, or the socket a read poller took from it.
type stream interface {
	setWriteDeadline(t time.Time)        // bounds write; any goroutine may call it
	write(bufs [][]byte) error           // all of bufs, within the deadline
	tryWrite(bufs [][]byte) (int, error) // what the socket takes at once; only with conn.inline
	close()
}

// netStream is the net.Conn as a stream. raw, its TCP socket, is what
// tryWrite writes to; nil under TLS.
type netStream struct {
	ws  *websocket.Conn
	raw syscall.RawConn
}

func (s netStream) setWriteDeadline(t time.Time) { _ = s.ws.NetConn().SetWriteDeadline(t) }

func (s netStream) write(bufs [][]byte) error {
	b := net.Buffers(bufs)
	_, err := b.WriteTo(s.ws.NetConn())
	return err
}

// tryWrite writes bufs with one system call that does not wait for the
// socket, and returns how many bytes it took (writevNow).
func (s netStream) tryWrite(bufs [][]byte) (int, error) {
	var n int
	var werr error
	err := s.raw.Write(func(fd uintptr) bool {
		n, werr = writevNow(fd, bufs)
		return true // never wait: what the socket did not take goes to the writer
	})
	if err != nil {
		return 0, err
	}
	return n, werr
}

func (s netStream) close() { s.ws.Close() }

// conn is one WebSocket peer. A writer goroutine alone writes to the
// socket; the reader goroutine alone reads. Everyone else queues through
// enqueue without blocking, and a peer whose queue overflows is cut off,
// never waited for.
//
// The writer runs only while there is something to write: enqueue starts
// one when none is running, and it ends when the queue is empty, so an
// idle connection costs one goroutine (its reader), not two. It frames
// messages itself and writes each batch of queued messages with one
// system call on its stream, instead of one per message through
// gorilla's writer: under load a dashboard's writer finds many messages
// queued and sends them together. Nothing else writes to the socket:
// gorilla's ping and close handlers are replaced by ones that queue their
// answer.
type conn struct {
	// Static after construction.
	ws          *websocket.Conn
	log         *slog.Logger
	remote      string
	readTimeout time.Duration
	pingPeriod  time.Duration
	maxPending  int64         // bytes queued before the peer counts as slow
	coalesce    time.Duration // enqueueSoon's window: coalesceFor, or a test's
	metrics     *connMetrics
	pinger      *time.Timer // queues a ping every pingPeriod
	out         stream      // what the writer writes to
	inline      bool        // out can write without waiting (writeInline); not under TLS
	sock        *socket     // the socket, when a read poller reads it (ws then does no I/O); else nil

	mu        sync.Mutex
	queue     []outbound    // messages waiting for the writer, oldest first
	pending   int64         // bytes in queue
	writing   bool          // a writer goroutine is running (or the socket is closed)
	ended     bool          // the socket is closed; nothing more is written
	space     chan struct{} // poked when the writer takes messages off a full queue
	soon      bool          // soonTimer will start a writer
	soonTimer *time.Timer   // enqueueSoon's delayed writer start

	closeOnce sync.Once
	closeMsg  []byte        // close frame body for closeNow; set before kill closes
	closeWhy  atomic.Value  // string: why we closed, for metrics; unset means the peer left
	closing   atomic.Bool   // no more messages are queued once set
	kill      chan struct{} // closed to make the writer stop now
	readDone  chan struct{} // closed when the reader returns

	peerClosed *websocket.CloseError // the peer's close frame, read by a poller; set before sock.ended closes
	done       chan struct{}         // closed when the socket is closed and the queue dropped

	// Owned by the running writer; handed from one to the next under mu.
	batch  []outbound
	rest   []byte // the unwritten end of a frame writeInline began
	broken bool   // a write failed: the stream may hold a partial frame

	afterTake func() // tests only: runs between taking a batch and writing it
}

// newConn wraps an upgraded connection. With sock (the socket detached
// from ws for a read poller) it reads and writes sock, and ws is kept only
// for its addresses.
func newConn(ws *websocket.Conn, sock *socket, log *slog.Logger, readTimeout, pingPeriod time.Duration, maxPending int64, m *connMetrics) *conn {
	m.open.Inc()
	if sock != nil {
		m.polled.Inc()
	}
	c := &conn{
		metrics:     m,
		ws:          ws,
		sock:        sock,
		log:         log,
		remote:      ws.RemoteAddr().String(),
		readTimeout: readTimeout,
		pingPeriod:  pingPeriod,
		maxPending:  maxPending,
		coalesce:    coalesceFor,
		writing:     true, // the first writer is writeLoop, started by the caller
		space:       make(chan struct{}, 1),
		kill:        make(chan struct{}),
		readDone:    make(chan struct{}),
		done:        make(chan struct{}),
	}
	if sock != nil {
		c.out, c.inline = sock, true
	} else {
		ns := netStream{ws: ws}
		if tc, ok := ws.NetConn().(*net.TCPConn); ok {
			ns.raw, _ = tc.SyscallConn()
		}
		c.out, c.inline = ns, ns.raw != nil
	}
	// gorilla's default handlers answer from the reader goroutine with
	// WriteControl; the writer owns the socket, so they queue instead.
	ws.SetPingHandler(func(data string) error {
		c.enqueueControl(websocket.PongMessage, []byte(data))
		return nil
	})
	ws.SetCloseHandler(func(code int, _ string) error {
		body := []byte{}
		if code != websocket.CloseNoStatusReceived {
			body = websocket.FormatCloseMessage(code, "")
		}
		c.closeWith(body)
		return nil
	})
	return c
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
func (c *conn) enqueue(m outbound) bool { return c.enqueueWithin(m, 0) }

// enqueueSoon is enqueue for output nobody is waiting on keystroke by
// keystroke: when no writer runs, one starts within coalesceFor (or once
// coalesceBytes are queued), so that the output of many streams goes to a
// dashboard in a few writes, not one each. On loopback each write also
// costs the relay the receiver's TCP work and a wake-up of the reader.
func (c *conn) enqueueSoon(m outbound) bool { return c.enqueueWithin(m, c.coalesce) }

func (c *conn) enqueueWithin(m outbound, within time.Duration) bool {
	if c.closing.Load() {
		if m.after != nil {
			m.after()
		}
		return false
	}
	n := int64(len(m.data))
	c.mu.Lock()
	if (c.pending+n > c.maxPending && n > 0) || len(c.queue) >= sendQueueLen {
		c.mu.Unlock()
		if m.after != nil {
			m.after()
		}
		c.cutOff()
		return false
	}
	c.queue = append(c.queue, m)
	c.pending += n
	c.queued(1, n)
	start := false
	switch {
	case within == 0 || c.pending >= coalesceBytes:
		start = c.startWriterLocked()
	case !c.writing && !c.ended && !c.soon:
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

// writeSoon is enqueueSoon's timer: it becomes the writer, unless one ran
// meanwhile and left nothing.
func (c *conn) writeSoon() {
	c.mu.Lock()
	c.soon = false
	start := len(c.queue) > 0 && c.startWriterLocked()
	c.mu.Unlock()
	if start {
		c.write()
	}
}

// lagging reports whether the peer is so far behind that it should not be
// sent n more bytes of live output: half its bounds are queued. Output it
// misses is sent later, paced (see dashboard.fallBehind); the bounds
// themselves are for everything else.
func (c *conn) lagging(n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending+int64(n) > c.maxPending/2 || len(c.queue) >= sendQueueLen/2
}

// enqueueNow is enqueue for the messages a person waits on: output and
// keystrokes. When the connection is idle, the caller writes m itself
// with one non-blocking system call instead of starting a writer: the
// handoff to a new goroutine cost an interactive echo ~30 µs at each of
// the relay's two hops. Whatever the socket does not take at once is left
// to a writer goroutine, so the caller never waits on the peer.
func (c *conn) enqueueNow(m outbound) bool {
	if !c.inline || m.after != nil || c.closing.Load() {
		return c.enqueue(m)
	}
	c.mu.Lock()
	if c.writing || c.ended || len(c.queue) > 0 {
		c.mu.Unlock()
		return c.enqueue(m) // busy: m waits its turn behind what is queued
	}
	c.writing = true // the caller is the writer until writeInline returns
	c.mu.Unlock()
	c.writeInline(m)
	return true
}

// writeInline writes m without waiting, as the connection's writer, and
// hands the writer role on: to a writer goroutine if the socket did not
// take all of m or more was queued meanwhile, or back to idle.
func (c *conn) writeInline(m outbound) {
	if !c.broken && !isClosed(c.kill) {
		bp := getScratch(10 + min(len(m.data), inlineMax))
		frame := appendFrameHeader((*bp)[:0], m.kind, len(m.data))
		bufs := [][]byte{frame, m.data}
		if len(m.data) <= inlineMax {
			frame = append(frame, m.data...)
			bufs = [][]byte{frame}
		}
		total := 0
		for _, b := range bufs {
			total += len(b)
		}
		written, err := c.out.tryWrite(bufs)
		switch {
		case err != nil:
			c.log.Debug("write failed", "remote", c.remote, "err", err)
			c.broken = true
		case written < total:
			c.rest = tailOf(bufs, written)
		}
		if err == nil {
			c.metrics.writes.Inc()
			c.metrics.messagesOut.Inc()
			c.metrics.bytesOut.Add(float64(len(m.data)))
		}
		*bp = frame
		putScratch(bp)
	}
	c.mu.Lock()
	if c.rest == nil && !c.broken && len(c.queue) == 0 && !isClosed(c.readDone) && !isClosed(c.kill) {
		c.writing = false
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	go c.write() // finishes the frame, writes what was queued, or closes
}

// tailOf copies what is left of bufs after the first n bytes.
func tailOf(bufs [][]byte, n int) []byte {
	var rest []byte
	for _, b := range bufs {
		if n >= len(b) {
			n -= len(b)
			continue
		}
		rest = append(rest, b[n:]...)
		n = 0
	}
	return rest
}

// enqueueIfRoom queues m unless the peer's queue is full (then it neither
// waits nor cuts the peer off; c.space signals room) or the connection is
// closing.
func (c *conn) enqueueIfRoom(m outbound) (queued, closing bool) {
	if c.closing.Load() {
		return false, true
	}
	c.mu.Lock()
	if len(c.queue) >= sendQueueLen {
		c.mu.Unlock()
		return false, false
	}
	c.queue = append(c.queue, m)
	c.pending += int64(len(m.data))
	c.queued(1, int64(len(m.data)))
	start := c.startWriterLocked()
	c.mu.Unlock()
	if start {
		go c.write()
	}
	return true, false
}

// enqueueControl queues a control frame (a ping or pong) outside the bounds.
func (c *conn) enqueueControl(kind int, body []byte) {
	if c.closing.Load() {
		return
	}
	c.push(outbound{kind: kind, data: controlBody(body)})
}

// push queues m outside the bounds and makes sure a writer will see it.
func (c *conn) push(m outbound) {
	c.mu.Lock()
	c.queue = append(c.queue, m)
	c.queued(1, 0)
	start := c.startWriterLocked()
	c.mu.Unlock()
	if start {
		go c.write()
	}
}

// startWriterLocked reports whether the caller must start a writer: none
// is running and the socket is still open.
func (c *conn) startWriterLocked() bool {
	if c.writing || c.ended {
		return false
	}
	c.writing = true
	return true
}

// queued reports a change to what is queued (as in queue and pending) to
// the send-queue gauges; the caller holds mu.
func (c *conn) queued(messages int, bytes int64) {
	c.metrics.queuedMessages.Add(float64(messages))
	c.metrics.queuedBytes.Add(float64(bytes))
}

// wakeWriter starts a writer if none runs, to notice the end of the
// connection (kill or readDone).
func (c *conn) wakeWriter() {
	c.mu.Lock()
	start := c.startWriterLocked()
	c.mu.Unlock()
	if start {
		go c.write()
	}
}

// cutOff disconnects a slow peer. It never blocks: the writer does the work.
func (c *conn) cutOff() {
	c.mu.Lock()
	pending := c.pending
	c.mu.Unlock()
	c.log.Warn("disconnecting slow consumer", "remote", c.remote, "pending_bytes", pending)
	c.setWhy("slow_consumer")
	// A writer stuck on this peer has closeLinger to finish its write, so
	// that a peer that reads again learns why it is cut off.
	c.closeNow(wire.CloseSlowConsumer, "slow consumer: send queue full; reconnect and resume from your offsets")
}

// setWriteDeadline bounds the writer's system calls; any goroutine may
// call it.
func (c *conn) setWriteDeadline(t time.Time) { c.out.setWriteDeadline(t) }

// setWhy records the first reason we close for, as a metrics label.
func (c *conn) setWhy(why string) {
	c.closeWhy.CompareAndSwap(nil, why)
}

// closeGracefully queues a close frame behind what is already queued.
func (c *conn) closeGracefully(code int, reason string) {
	c.closeWith(websocket.FormatCloseMessage(code, reason))
}

func (c *conn) closeWith(body []byte) {
	if c.closing.Swap(true) {
		return
	}
	c.push(outbound{kind: websocket.CloseMessage, data: controlBody(body)})
}

// closeNow makes the writer send a close frame at once, dropping the
// queue. It never blocks: a writer stuck on a peer that stopped reading
// gives up within closeLinger.
func (c *conn) closeNow(code int, reason string) {
	c.closing.Store(true)
	c.closeOnce.Do(func() {
		c.log.Debug("closing connection", "remote", c.remote, "code", code, "reason", reason)
		c.closeMsg = controlBody(websocket.FormatCloseMessage(code, reason))
		close(c.kill)
		c.setWriteDeadline(time.Now().Add(closeLinger))
	})
	c.wakeWriter()
}

// controlBody cuts a control frame's body to the protocol's limit.
func controlBody(b []byte) []byte {
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

// writeLoop is the connection's first writer, started by whoever made the
// connection. It starts the pings; the writers after it are started by
// enqueue as needed. The connection is over when done is closed.
func (c *conn) writeLoop() {
	c.mu.Lock()
	c.pinger = time.AfterFunc(c.pingPeriod, c.ping)
	c.mu.Unlock()
	c.write()
}

// ping queues a ping and schedules the next.
func (c *conn) ping() {
	c.enqueueControl(websocket.PingMessage, nil)
	c.mu.Lock()
	if !c.ended {
		c.pinger.Reset(c.pingPeriod)
	}
	c.mu.Unlock()
}

// write is a writer: it writes what is queued, in batches, and returns
// when the queue is empty, or closes the connection when it is over (the
// reader has ended, a write failed, a close frame went out, or the
// connection was killed).
func (c *conn) write() {
	for {
		if isClosed(c.kill) {
			if c.rest != nil { // a close frame can follow only whole frames
				_ = c.writeRest(time.Now().Add(closeLinger))
			}
			c.sendCloseNow()
			c.finish()
			return
		}
		wait := writeWait
		if isClosed(c.readDone) {
			wait = closeLinger // an error and close frame queued just before must still go out
		}
		if c.rest != nil {
			if err := c.writeRest(time.Now().Add(wait)); err != nil {
				c.log.Debug("write failed", "remote", c.remote, "err", err)
				c.finish()
				return
			}
			continue
		}
		batch, over := c.takeBatch()
		if over {
			if isClosed(c.kill) {
				c.sendCloseNow()
			}
			c.finish()
			return
		}
		if len(batch) == 0 {
			return // idle: the next enqueue starts a writer
		}
		if c.afterTake != nil {
			c.afterTake()
		}
		err := c.writeBatch(batch, time.Now().Add(wait))
		last := batch[len(batch)-1]
		for _, m := range batch {
			if m.after != nil {
				m.after()
			}
		}
		clear(batch)
		if errors.Is(err, errKilled) {
			continue // nothing was written: the close frame goes out whole
		}
		if err != nil {
			c.log.Debug("write failed", "remote", c.remote, "err", err)
			c.finish()
			return
		}
		if last.kind == websocket.CloseMessage {
			c.closeOnce.Do(func() { close(c.kill) })
			c.linger()
			c.finish()
			return
		}
	}
}

// takeBatch moves the oldest queued messages, within the batch bounds and
// up to and including a close frame, into c.batch. With nothing queued
// it stops this writer, or reports over when the connection must be
// closed (the reader has ended, or it was killed). Both are checked under
// mu, which closeNow and the reader take after closing kill and readDone:
// either this writer sees them, or it stops before they look for one.
func (c *conn) takeBatch() (batch []outbound, over bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		if isClosed(c.readDone) || isClosed(c.kill) {
			return nil, true
		}
		c.writing = false
		return nil, false
	}
	n, size := 0, int64(0)
	for n < len(c.queue) && n < maxBatchMessages {
		m := c.queue[n]
		if n > 0 && size+int64(len(m.data)) > maxBatchBytes {
			break
		}
		n++
		if m.kind == websocket.CloseMessage {
			break
		}
		if m.kind != websocket.PongMessage && m.kind != websocket.PingMessage && !m.free {
			size += int64(len(m.data))
		}
	}
	full := len(c.queue) >= sendQueueLen
	c.batch = append(c.batch[:0], c.queue[:n]...)
	rest := copy(c.queue, c.queue[n:])
	clear(c.queue[rest:])
	c.queue = c.queue[:rest]
	if rest == 0 && cap(c.queue) > 64 {
		c.queue = nil // a burst is over: give its memory back
	}
	if cap(c.batch) > 2*maxBatchMessages {
		defer func() { c.batch = nil }() // the caller has it; do not keep a burst's worth
	}
	c.pending -= size
	c.queued(-n, -size)
	if full {
		select {
		case c.space <- struct{}{}:
		default:
		}
	}
	return c.batch, false
}

// errKilled is writeBatch refusing to start a batch on a killed connection.
var errKilled = errors.New("connection killed")

// writeBatch frames the messages and writes them with one writev.
func (c *conn) writeBatch(batch []outbound, deadline time.Time) error {
	if c.broken {
		return errors.New("connection broken by an earlier write error")
	}
	inline, bytes := 0, 0
	for _, m := range batch {
		inline += 10
		if len(m.data) <= inlineMax {
			inline += len(m.data)
		}
		bytes += len(m.data)
	}
	bp := getScratch(inline)
	buf := (*bp)[:0]
	bufs := make(net.Buffers, 0, 2*len(batch)+1)
	start := 0
	for _, m := range batch {
		buf = appendFrameHeader(buf, m.kind, len(m.data))
		if len(m.data) <= inlineMax {
			buf = append(buf, m.data...)
			continue
		}
		bufs = append(bufs, buf[start:], m.data)
		start = len(buf)
	}
	if start < len(buf) {
		bufs = append(bufs, buf[start:])
	}
	c.setWriteDeadline(deadline)
	var err error
	switch {
	case isClosed(c.kill) && batch[0].kind != websocket.CloseMessage:
		// Checked after setting the deadline: closeNow shortens it after
		// closing kill, so a write that starts now cannot outlast it.
		err = errKilled
	default:
		err = c.out.write(bufs)
	}
	*bp = buf
	putScratch(bp)
	if errors.Is(err, errKilled) {
		return err // the stream is whole: closeNow's frame can still go out
	}
	if err != nil {
		c.broken = true
		return err
	}
	c.metrics.writes.Inc()
	c.metrics.messagesOut.Add(float64(len(batch)))
	c.metrics.bytesOut.Add(float64(bytes))
	return nil
}

// writeRest finishes the frame writeInline began.
func (c *conn) writeRest(deadline time.Time) error {
	c.setWriteDeadline(deadline)
	err := c.out.write([][]byte{c.rest})
	c.rest = nil
	if err != nil {
		c.broken = true
	}
	return err
}

var scratchPool sync.Pool // *[]byte: frame headers and small payloads of one batch

func getScratch(n int) *[]byte {
	if bp, ok := scratchPool.Get().(*[]byte); ok && cap(*bp) >= n {
		return bp
	}
	b := make([]byte, 0, max(n, 4096))
	return &b
}

func putScratch(bp *[]byte) {
	if cap(*bp) <= 2*maxBatchMessages*(inlineMax+10) {
		scratchPool.Put(bp)
	}
}

// sendCloseNow writes closeNow's close frame, unless the stream is broken,
// and gives the peer a moment to read it.
func (c *conn) sendCloseNow() {
	if !c.broken && c.closeMsg != nil {
		_ = c.writeBatch([]outbound{{kind: websocket.CloseMessage, data: c.closeMsg}}, time.Now().Add(closeLinger))
	}
	c.linger()
}

// linger gives the peer a moment to read our close frame before the socket
// is closed, so that it learns the reason instead of seeing a reset.
func (c *conn) linger() {
	select {
	case <-c.readDone:
	case <-time.After(closeLinger):
	}
}

// finish closes the socket, which also ends the reader, drops what is
// still queued (running its callbacks, so nobody waits on them), and
// records the disconnect. Only the last writer calls it.
func (c *conn) finish() {
	c.closing.Store(true)
	c.mu.Lock()
	c.ended = true
	q := c.queue
	c.queued(-len(q), -c.pending)
	c.queue, c.pending = nil, 0
	if c.pinger != nil {
		c.pinger.Stop()
	}
	c.mu.Unlock()
	c.out.close()
	if c.sock != nil {
		c.metrics.polled.Dec()
	}
	for _, m := range q {
		if m.after != nil {
			m.after()
		}
	}
	why, _ := c.closeWhy.Load().(string)
	if why == "" {
		why = "peer"
	}
	c.metrics.disconnects.WithLabelValues(c.metrics.kind, why).Inc()
	c.metrics.open.Dec()
	close(c.done)
}
