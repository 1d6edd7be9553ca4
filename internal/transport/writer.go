package transport

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The writer role. Exactly one goroutine at a time may write to a
// connection's socket: the one holding the writer role. Nobody waits for
// the role; it is taken, handed on and given back under Conn.mu, and
// Conn.state says who has it:
//
//	                takeRoleLocked(writerGoroutine)
//	   ┌──────────── Send, SendIfRoom, push, wakeWriter, writeSoon ───────────┐
//	   │                                                                     ▼
//	writerIdle ◄──── takeBatch: queue empty, connection not over ──── writerGoroutine
//	   │  ▲                                                            ▲     │
//	   │  └── writeInline: all written, nothing queued, not over       │     │ finish: read over,
//	   │                                                               │     │ killed, write failed
//	   └──► writerInline ── writeInline: socket took part of it, ──────┘     │ or close frame sent
//	 SendNow (queue      more was queued, or the connection is over          ▼
//	  empty)             (the caller starts a writer goroutine)           writerEnded
//
// writerGoroutine is a goroutine running write: Start's first writer, or
// one started by whoever queued into an idle connection (SendSoon's timer
// included). writerInline is any goroutine in SendNow — a read poller
// forwarding an agent's output to a dashboard, a dashboard's reader
// forwarding keys to an agent, the persister sending acks — for one
// non-blocking writev. Only the holder of the role may call finish, which
// closes the socket: so no write can be under way, or start, on a closed
// socket (a closed descriptor's number is reused by the next accept, and
// a stray write would corrupt another peer's stream). writerEnded is
// final; from it no role is taken.
type writerState uint8

const (
	writerIdle writerState = iota
	writerGoroutine
	writerInline
	writerEnded
)

// takeRoleLocked takes the writer role for to, if it is free; the caller
// holds mu and, when it gets the role with writerGoroutine, starts write.
func (c *Conn) takeRoleLocked(to writerState) bool {
	if c.state != writerIdle {
		return false
	}
	c.state = to
	return true
}

// Start begins the connection's first writer, which starts the pings;
// the writers after it are started as messages are queued. The connection
// is over when Done is closed.
func (c *Conn) Start() {
	c.mu.Lock()
	c.pinger = time.AfterFunc(c.pingPeriod, c.ping)
	c.mu.Unlock()
	go c.write()
}

// ping queues a ping and schedules the next.
func (c *Conn) ping() {
	c.sendControl(websocket.PingMessage, nil)
	c.mu.Lock()
	if c.state != writerEnded {
		c.pinger.Reset(c.pingPeriod)
	}
	c.mu.Unlock()
}

// writeInline writes m without waiting, holding the role as writerInline,
// and hands the role on: to a writer goroutine if the socket did not take
// all of m, more was queued meanwhile or the connection is over; else back
// to idle.
func (c *Conn) writeInline(m Message) {
	if !c.broken && !isClosed(c.kill) {
		bp := getScratch(10 + min(len(m.Data), inlineMax))
		frame := appendFrameHeader((*bp)[:0], m.Kind, len(m.Data))
		bufs := [][]byte{frame, m.Data}
		if len(m.Data) <= inlineMax {
			frame = append(frame, m.Data...)
			bufs = [][]byte{frame}
		}
		more, err := c.out.tryWrite(bufs)
		if err != nil {
			c.log.Debug("write failed", "remote", c.remote, "err", err)
			c.broken = true
		}
		c.tail = more
		if err == nil {
			c.metrics.writes.Inc()
			c.metrics.messagesOut.Inc()
			c.metrics.bytesOut.Add(float64(len(m.Data)))
		}
		*bp = frame
		putScratch(bp)
	}
	c.mu.Lock()
	if !c.tail && !c.broken && len(c.queue) == 0 && !isClosed(c.readDone) && !isClosed(c.kill) {
		c.state = writerIdle
		c.mu.Unlock()
		return
	}
	c.state = writerGoroutine
	c.mu.Unlock()
	go c.write() // finishes the frame, writes what was queued, or closes
}

// write is a writer goroutine: it writes what is queued, in batches, and
// gives the role back when the queue is empty, or closes the connection
// when it is over (the reader has ended, a write failed, a close frame
// went out, or the connection was killed).
func (c *Conn) write() {
	for {
		if isClosed(c.kill) {
			if c.tail { // a close frame can follow only whole frames
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
		if c.tail {
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
			return // idle: the next Send starts a writer
		}
		if c.afterTake != nil {
			c.afterTake()
		}
		if c.writeTaken(batch, wait) {
			return
		}
	}
}

// writeTaken writes a batch takeBatch took and runs its callbacks; it
// reports whether the connection is now over (and finished).
func (c *Conn) writeTaken(batch []Message, wait time.Duration) (over bool) {
	err := c.writeBatch(batch, time.Now().Add(wait))
	last := batch[len(batch)-1]
	for _, m := range batch {
		if m.After != nil {
			m.After()
		}
	}
	clear(batch)
	switch {
	case errors.Is(err, errKilled):
		return false // nothing was written: the close frame goes out whole
	case err != nil:
		c.log.Debug("write failed", "remote", c.remote, "err", err)
		c.finish()
		return true
	case last.Kind == websocket.CloseMessage:
		c.closeOnce.Do(func() { close(c.kill) })
		c.linger()
		c.finish()
		return true
	}
	return false
}

// takeBatch moves the oldest queued messages, within the batch bounds and
// up to and including a close frame, into c.batch. With nothing queued
// it gives the role back (writerIdle), or reports over when the
// connection must be closed (the reader has ended, or it was killed).
// Both are checked under mu, which CloseNow and the reader take after
// closing kill and readDone: either this writer sees them, or it is idle
// before they look for one.
func (c *Conn) takeBatch() (batch []Message, over bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		if isClosed(c.readDone) || isClosed(c.kill) {
			return nil, true
		}
		c.state = writerIdle
		return nil, false
	}
	n, size := 0, int64(0)
	for n < len(c.queue) && n < maxBatchMessages {
		m := c.queue[n]
		if n > 0 && size+int64(len(m.Data)) > maxBatchBytes {
			break
		}
		n++
		if m.Kind == websocket.CloseMessage {
			break
		}
		if m.Kind != websocket.PongMessage && m.Kind != websocket.PingMessage && !m.free {
			size += int64(len(m.Data))
		}
	}
	full := len(c.queue) >= QueueLen
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

// writeBatch frames the messages and writes them with one writev (under
// TLS: encrypts them with one tls.Conn.Write and writes the records with
// one write).
func (c *Conn) writeBatch(batch []Message, deadline time.Time) error {
	if c.broken {
		return errors.New("connection broken by an earlier write error")
	}
	inline, bytes := 0, 0
	for _, m := range batch {
		inline += 10
		if len(m.Data) <= inlineMax {
			inline += len(m.Data)
		}
		bytes += len(m.Data)
	}
	bp := getScratch(inline)
	buf := (*bp)[:0]
	bufs := make(net.Buffers, 0, 2*len(batch)+1)
	start := 0
	for _, m := range batch {
		buf = appendFrameHeader(buf, m.Kind, len(m.Data))
		if len(m.Data) <= inlineMax {
			buf = append(buf, m.Data...)
			continue
		}
		bufs = append(bufs, buf[start:], m.Data)
		start = len(buf)
	}
	if start < len(buf) {
		bufs = append(bufs, buf[start:])
	}
	c.out.setWriteDeadline(deadline)
	var err error
	switch {
	case isClosed(c.kill) && batch[0].Kind != websocket.CloseMessage:
		// Checked after setting the deadline: CloseNow shortens it after
		// closing kill, so a write that starts now cannot outlast it.
		err = errKilled
	default:
		err = c.out.write(bufs)
	}
	*bp = buf
	putScratch(bp)
	if errors.Is(err, errKilled) {
		return err // the stream is whole: CloseNow's frame can still go out
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
func (c *Conn) writeRest(deadline time.Time) error {
	c.out.setWriteDeadline(deadline)
	err := c.out.flush()
	c.tail = false
	if err != nil {
		c.broken = true
	}
	return err
}

var scratchPool sync.Pool // *[]byte: frame headers and small payloads of one batch

// getScratch returns an empty buffer with room for n bytes: from
// scratchPool, or for more than it keeps from batchBufs.
func getScratch(n int) *[]byte {
	if n > maxScratch {
		b := getBatchBuf(n)
		return &b
	}
	if bp, ok := scratchPool.Get().(*[]byte); ok && cap(*bp) >= n {
		return bp
	}
	b := make([]byte, 0, max(n, 4096))
	return &b
}

// maxScratch is the largest buffer scratchPool keeps.
const maxScratch = 2 * maxBatchMessages * (inlineMax + 10)

func putScratch(bp *[]byte) {
	if cap(*bp) <= maxScratch {
		scratchPool.Put(bp)
	} else {
		putBatchBuf(*bp)
	}
}

// batchBufs holds buffers for a whole large batch: its plaintext while
// TLS seals it, and its records until the socket takes them
// (tlsConn.reserve). A stream of large batches (one output at full
// speed) would otherwise allocate and zero both for every batch, and
// collect the records by growing a buffer from nothing (S2 over TLS: 5 MB
// allocated per MiB sent). Pooled rather than kept by each connection, so
// that a thousand dashboards between bursts hold none.
var batchBufs sync.Pool // *[]byte of cap batchBufCap

// batchBufCap is room for a full batch, its payloads and each frame's
// header (at most 14 bytes), sealed as TLS records.
var batchBufCap = sealedSize(maxBatchBytes + maxBatchMessages*14)

// getBatchBuf returns an empty buffer with room for n bytes.
func getBatchBuf(n int) []byte {
	if n > batchBufCap {
		return make([]byte, 0, n)
	}
	if bp, ok := batchBufs.Get().(*[]byte); ok {
		return (*bp)[:0]
	}
	return make([]byte, 0, batchBufCap)
}

// putBatchBuf gives a buffer from getBatchBuf back, once nothing refers
// to it; others are left to the collector.
func putBatchBuf(b []byte) {
	if cap(b) == batchBufCap {
		b = b[:0]
		batchBufs.Put(&b)
	}
}

// sendCloseNow writes CloseNow's close frame, unless the stream is
// broken, and gives the peer a moment to read it.
func (c *Conn) sendCloseNow() {
	if !c.broken && c.closeMsg != nil {
		_ = c.writeBatch([]Message{{Kind: websocket.CloseMessage, Data: c.closeMsg}}, time.Now().Add(closeLinger))
	}
	c.linger()
}

// linger gives the peer a moment to read our close frame before the socket
// is closed, so that it learns the reason instead of seeing a reset.
func (c *Conn) linger() {
	select {
	case <-c.readDone:
	case <-time.After(closeLinger):
	}
}

// finish closes the socket, which also ends the reader, drops what is
// still queued (running its callbacks, so nobody waits on them), and
// records the disconnect. Only the holder of the writer role calls it,
// and the role ends with it.
func (c *Conn) finish() {
	c.closing.Store(true)
	c.mu.Lock()
	c.state = writerEnded
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
		if m.After != nil {
			m.After()
		}
	}
	why := c.Why()
	if why == "" {
		why = "peer"
	}
	c.metrics.disconnects.WithLabelValues(c.metrics.kind, why).Inc()
	c.metrics.open.Dec()
	close(c.done)
}
