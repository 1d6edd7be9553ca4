package transport

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
	"time"
)

// stream is what a Conn's writer writes framed messages to: a plain
// socket (plainStream) or TLS over one (tlsStream, tls.go).
type stream interface {
	setWriteDeadline(t time.Time) // bounds write and flush; any goroutine may call it
	// write writes the tail (see tryWrite), then all of bufs, within the
	// deadline.
	write(bufs [][]byte) error
	// tryWrite writes bufs without waiting for the socket. What the
	// socket did not take becomes the stream's tail (more), which write
	// or flush sends first. Only when canInline, and only with no tail.
	tryWrite(bufs [][]byte) (more bool, err error)
	flush() error // writes the tail within the deadline
	canInline() bool
	close()
}

// rawSock is the byte stream under a stream: a socket in Go's netpoller
// (connRaw), or one a read poller reads (socket).
type rawSock interface {
	setWriteDeadline(t time.Time)
	write(bufs [][]byte) error           // all of bufs, within the deadline
	tryWrite(bufs [][]byte) (int, error) // what the socket takes at once
	close()
}

// newStream picks the stream for an upgraded connection: nc is gorilla's
// net.Conn, sock the socket a read poller took from it (or nil).
func newStream(nc net.Conn, sock *socket) stream {
	if tc, ok := nc.(*tls.Conn); ok {
		return newTLSStream(tc, sock)
	}
	if sock != nil {
		return &plainStream{raw: sock, inline: true}
	}
	raw := newConnRaw(nc)
	return &plainStream{raw: raw, inline: raw.rc != nil}
}

// connRaw is a net.Conn as a rawSock. rc, the TCP socket under it, is
// what tryWrite writes to; nil for other connections, which then cannot
// write inline.
type connRaw struct {
	nc net.Conn
	rc syscall.RawConn
}

func newConnRaw(nc net.Conn) connRaw {
	r := connRaw{nc: nc}
	if tc, ok := nc.(*net.TCPConn); ok {
		r.rc, _ = tc.SyscallConn()
	}
	return r
}

func (r connRaw) setWriteDeadline(t time.Time) { _ = r.nc.SetWriteDeadline(t) }

func (r connRaw) write(bufs [][]byte) error {
	b := net.Buffers(bufs)
	_, err := b.WriteTo(r.nc) // one writev on a TCP connection
	return err
}

// tryWrite writes bufs with one system call that does not wait for the
// socket, and returns how many bytes it took (writevNow). rc.Write holds
// Go's own reference on the descriptor meanwhile, so a close cannot free
// the descriptor number under it.
func (r connRaw) tryWrite(bufs [][]byte) (int, error) {
	if r.rc == nil {
		return 0, errors.ErrUnsupported
	}
	var n int
	var werr error
	err := r.rc.Write(func(fd uintptr) bool {
		n, werr = writevNow(fd, bufs)
		return true // never wait: what the socket did not take goes to the writer
	})
	if err != nil {
		return 0, err
	}
	return n, werr
}

func (r connRaw) close() { _ = r.nc.Close() }

// plainStream writes WebSocket frames straight to the socket.
type plainStream struct {
	raw    rawSock
	inline bool
	tail   []byte // the unwritten end of what tryWrite began
}

func (s *plainStream) setWriteDeadline(t time.Time) { s.raw.setWriteDeadline(t) }
func (s *plainStream) canInline() bool              { return s.inline }
func (s *plainStream) close()                       { s.raw.close() }

func (s *plainStream) write(bufs [][]byte) error {
	if len(s.tail) > 0 {
		bufs = append([][]byte{s.tail}, bufs...)
		s.tail = nil
	}
	return s.raw.write(bufs)
}

func (s *plainStream) tryWrite(bufs [][]byte) (bool, error) {
	n, err := s.raw.tryWrite(bufs)
	if err != nil {
		return false, err
	}
	s.tail = tailOf(bufs, n)
	return len(s.tail) > 0, nil
}

func (s *plainStream) flush() error {
	if len(s.tail) == 0 {
		return nil
	}
	t := s.tail
	s.tail = nil
	return s.raw.write([][]byte{t})
}

// tailOf copies what is left of bufs after the first n bytes (nil if
// nothing is).
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
