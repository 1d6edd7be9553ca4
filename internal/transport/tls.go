package transport

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// TLS on the same engine. crypto/tls encrypts and decrypts; everything
// else is the plain path's. A tls.Conn reads and writes records through
// the net.Conn it wraps, and Listener makes that net.Conn ours (tlsConn):
//
//   - Writing: once the connection is upgraded, the records tls.Conn
//     writes are only collected (tlsConn.out). The writer encrypts a
//     whole batch with one tls.Conn.Write (records of up to 16 KiB) and
//     writes the records with one write system call, inline (SendNow)
//     or from its goroutine, as on a plain socket; what the socket does
//     not take at once is the stream's tail, as on a plain socket.
//   - Reading: a read poller reads the socket's bytes into its buffer and
//     hands them to tls.Conn.Read through tlsConn.Read, which says "would
//     block" (a temporary net.Error, which tls.Conn does not keep as an
//     error) once they are used up; a record cut short stays in
//     tls.Conn's buffer until the rest arrives.
//
// A TLS connection accepted without Listener (tls.Conn over a bare
// net.TCPConn) still gets one tls.Conn.Write per batch, but its records
// go out one write each, it has no inline writes and gorilla reads it on
// a goroutine.

// Listener wraps the listener a TLS server accepts from (http.Server's
// ServeTLS, tls.NewListener), so that the Engine can take over its
// connections' socket once they are upgraded.
func Listener(ln net.Listener) net.Listener { return listener{ln} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if tc, ok := nc.(*net.TCPConn); ok && err == nil {
		return &tlsConn{Conn: tc, tcp: tc}, nil
	}
	return nc, err
}

// errWouldBlock is tlsConn.Read with nothing to give: temporary, so that
// tls.Conn keeps the connection and a record cut short.
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// tlsConn is the TCP connection under a tls.Conn that Listener accepted.
// Until Engine.Upgrade it is the TCP connection (the handshake, the HTTP
// request and response); then owned is set and it only collects what
// tls.Conn writes; deadlines and closing are the stream's. Once a read
// poller reads the socket, polled is set and Read gives what the poller
// put in in.
type tlsConn struct {
	net.Conn
	tcp    *net.TCPConn
	owned  atomic.Bool
	polled atomic.Bool

	mu         sync.Mutex
	out        []byte // records written by tls.Conn and not yet taken by the stream
	encrypting bool   // the stream is encrypting a batch: its records are not bounded

	in []byte // read, not yet decrypted; only under the poller's socket.mu
}

// maxCollected bounds the records a tlsConn holds for the stream beyond
// the batch being encrypted (which is taken as soon as it is made): what
// reading makes tls.Conn write (alerts, answers to key updates a peer
// asks for) waits for the next write, and must not pile up without end.
const maxCollected = 4 * maxBatchBytes

// errTooMuchCollected fails a record written past maxCollected; tls.Conn
// then fails the connection.
var errTooMuchCollected = errors.New("tls: more records waiting than a peer may cause")

// reserve makes room for n more bytes of records, from batchBufs when
// that is large enough, so that a batch's records are not collected by
// growing a buffer from nothing again and again.
func (c *tlsConn) reserve(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cap(c.out)-len(c.out) >= n {
		return
	}
	b := append(getBatchBuf(len(c.out)+n), c.out...)
	putBatchBuf(c.out)
	c.out = b
}

func (c *tlsConn) Write(p []byte) (int, error) {
	if !c.owned.Load() {
		return c.Conn.Write(p)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.out)+len(p) > maxCollected && !c.encrypting {
		return 0, errTooMuchCollected
	}
	c.out = append(c.out, p...)
	return len(p), nil
}

// setEncrypting says whether the stream is encrypting a batch.
func (c *tlsConn) setEncrypting(on bool) {
	c.mu.Lock()
	c.encrypting = on
	c.mu.Unlock()
}

// take returns the records collected so far, leaving spare (emptied) to
// collect the next.
func (c *tlsConn) take(spare []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.out
	c.out = spare[:0]
	return out
}

func (c *tlsConn) Read(p []byte) (int, error) {
	if !c.polled.Load() {
		return c.Conn.Read(p)
	}
	if len(c.in) == 0 {
		return 0, errWouldBlock
	}
	n := copy(p, c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *tlsConn) SetWriteDeadline(t time.Time) error {
	if c.owned.Load() {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *tlsConn) SetDeadline(t time.Time) error {
	if c.owned.Load() {
		return c.SetReadDeadline(t)
	}
	return c.Conn.SetDeadline(t)
}

func (c *tlsConn) Close() error {
	if c.owned.Load() {
		return nil // tlsStream.close closes the socket once close_notify is out
	}
	return c.Conn.Close()
}

// tlsStream writes WebSocket frames through TLS.
type tlsStream struct {
	tc     *tls.Conn
	conn   *tlsConn // tc's net.Conn; nil when not accepted by Listener
	raw    rawSock  // conn's socket, when conn is set
	inline bool
	tail   []byte // records the socket did not take at once
	spare  []byte // the record buffer tlsConn fills next
}

func newTLSStream(tc *tls.Conn, sock *socket) *tlsStream {
	conn, _ := tc.NetConn().(*tlsConn)
	if conn == nil {
		return &tlsStream{tc: tc}
	}
	conn.owned.Store(true)
	if sock != nil {
		return &tlsStream{tc: tc, conn: conn, raw: sock, inline: true}
	}
	raw := newConnRaw(conn.tcp)
	return &tlsStream{tc: tc, conn: conn, raw: raw, inline: raw.rc != nil}
}

func (s *tlsStream) canInline() bool { return s.inline }

func (s *tlsStream) setWriteDeadline(t time.Time) {
	if s.conn == nil {
		_ = s.tc.SetWriteDeadline(t)
		return
	}
	s.raw.setWriteDeadline(t)
}

// encrypt hands bufs to tls.Conn as one write, so that a batch becomes as
// few records as its size allows.
func (s *tlsStream) encrypt(bufs [][]byte) error {
	if s.conn != nil {
		s.conn.setEncrypting(true)
		defer s.conn.setEncrypting(false)
	}
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	if s.conn != nil {
		s.conn.reserve(sealedSize(n))
	}
	if len(bufs) == 1 {
		_, err := s.tc.Write(bufs[0])
		return err
	}
	bp := getScratch(n)
	p := (*bp)[:0]
	for _, b := range bufs {
		p = append(p, b...)
	}
	_, err := s.tc.Write(p)
	*bp = p
	putScratch(bp)
	return err
}

// sealedSize is room for n bytes as TLS records: each record (up to 16
// KiB, smaller while tls.Conn sizes them for a new connection) adds a
// header, a tag and, in TLS 1.2, a nonce: under 32 bytes.
func sealedSize(n int) int { return n + n/32 + 1024 }

func (s *tlsStream) write(bufs [][]byte) error {
	if err := s.encrypt(bufs); err != nil || s.conn == nil {
		return err
	}
	return s.flush()
}

func (s *tlsStream) tryWrite(bufs [][]byte) (bool, error) {
	if err := s.encrypt(bufs); err != nil {
		return false, err
	}
	recs := s.conn.take(s.spare)
	n, err := s.raw.tryWrite([][]byte{recs})
	if err != nil {
		return false, err
	}
	s.tail = append(s.tail, recs[n:]...)
	s.keepSpare(recs)
	return len(s.tail) > 0, nil
}

// flush writes the tail and whatever records were collected since (a
// post-handshake message or alert tls.Conn wrote while reading).
func (s *tlsStream) flush() error {
	if s.conn == nil {
		return nil
	}
	recs := s.conn.take(s.spare)
	var err error
	switch {
	case len(s.tail) > 0 && len(recs) > 0:
		err = s.raw.write([][]byte{s.tail, recs})
	case len(s.tail) > 0:
		err = s.raw.write([][]byte{s.tail})
	case len(recs) > 0:
		err = s.raw.write([][]byte{recs})
	}
	s.tail = s.tail[:0]
	s.keepSpare(recs)
	return err
}

// keepSpare keeps a record buffer for reuse, unless a burst made it
// large: a batch buffer goes back to batchBufs.
func (s *tlsStream) keepSpare(b []byte) {
	switch {
	case cap(b) == batchBufCap:
		putBatchBuf(b)
		s.spare = nil
	case cap(b) <= 256<<10:
		s.spare = b[:0]
	default:
		s.spare = nil
	}
	if cap(s.tail) > 256<<10 && len(s.tail) == 0 {
		s.tail = nil
	}
}

// close sends close_notify if the socket takes it at once, and closes the
// socket. A peer that reads nothing costs no wait here.
func (s *tlsStream) close() {
	if s.conn == nil {
		_ = s.tc.NetConn().Close() // close_notify could wait 5 s on such a peer
		return
	}
	_ = s.tc.Close() // collects close_notify; tlsConn.Close leaves the socket to us
	recs := s.conn.take(nil)
	if len(s.tail) == 0 && len(recs) > 0 {
		_, _ = s.raw.tryWrite([][]byte{recs})
	}
	s.raw.close()
}
