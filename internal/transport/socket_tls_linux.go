//go:build linux

package transport

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"sync"
)

// tlsRead is the TLS layer of a socket a read poller reads (see tls.go).
type tlsRead struct {
	tc   *tls.Conn
	conn *tlsConn // tc's net.Conn, whose Read gives what the poller read
}

// detachTLS is detach for a TLS connection Listener accepted: its socket
// goes to a poller, and tls.Conn reads what the poller reads.
func (ps *pollers) detachTLS(tc *tls.Conn, conn *tlsConn) (*socket, error) {
	s, err := ps.detach(conn.tcp)
	if err != nil {
		return nil, err
	}
	conn.polled.Store(true)
	s.tls = &tlsRead{tc: tc, conn: conn}
	return s, nil
}

// plainPool holds buffers for what tls.Conn.Read decrypts, as large as a
// poller's read buffer: one tls.Conn.Read gives at most a record (16 KiB),
// and the records of one read are decrypted into one buffer before the
// frame parser sees them, so that a large frame is not reassembled from
// record-sized pieces.
var plainPool = sync.Pool{New: func() any { b := make([]byte, pollReadBuf); return &b }}

// decryptLocked hands data read off the socket (nil: none) to tls.Conn,
// and what it decrypts to the frame parser and the handler; it reports
// whether reading goes on. When the handler pauses or ends reading, what
// tls.Conn has not taken of data is kept (data is the poller's buffer,
// which the next socket's read overwrites); what it has taken and not
// decrypted or not returned yet it keeps itself.
func (s *socket) decryptLocked(data []byte) bool {
	c := s.tls.conn
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
	} else {
		c.in = data
	}
	bp := plainPool.Get().(*[]byte)
	defer plainPool.Put(bp)
	buf := *bp
	for {
		n, err := s.decryptSome(buf)
		if n > 0 && !s.feedLocked(buf[:n]) {
			if len(c.in) > 0 {
				c.in = bytes.Clone(c.in)
			} else {
				c.in = nil
			}
			return false
		}
		switch {
		case err == nil: // buf was full
		case errors.Is(err, errWouldBlock):
			c.in = nil // all taken: a record cut short waits inside tls.Conn
			return true
		case errors.Is(err, io.EOF): // close_notify, or the end at a record's boundary
			s.endLocked(io.EOF)
			return false
		default:
			s.endLocked(fmt.Errorf("tls: %w", err))
			return false
		}
	}
}

// decryptSome fills buf with what tls.Conn decrypts, until it is full
// (nil error) or tls.Conn has nothing more (its error).
func (s *socket) decryptSome(buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := s.tls.tc.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
