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

// plainPool holds buffers for what one tls.Conn.Read decrypts: at most a
// record, 16 KiB.
var plainPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

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
	for {
		n, err := s.tls.tc.Read(*bp)
		if n > 0 && !s.feedLocked((*bp)[:n]) {
			if len(c.in) > 0 {
				c.in = bytes.Clone(c.in)
			} else {
				c.in = nil
			}
			return false
		}
		switch {
		case err == nil:
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
