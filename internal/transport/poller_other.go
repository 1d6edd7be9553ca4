//go:build !linux

package transport

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"time"
)

// Read pollers need epoll; elsewhere every connection has its own reader
// goroutine, and these are never used.

type pollers struct{}

func newPollers(int, *slog.Logger) (*pollers, error) {
	return nil, errors.New("read pollers need Linux")
}

func (*pollers) detach(net.Conn) (*socket, error) { return nil, errors.New("read pollers need Linux") }
func (*pollers) stop()                            {}

func (*pollers) detachTLS(*tls.Conn, *tlsConn) (*socket, error) {
	return nil, errors.New("read pollers need Linux")
}

type readAction int

const (
	readOn readAction = iota
	readPause
	readEnd
)

type socket struct {
	ended  chan struct{}
	endErr error
}

func (*socket) start(int, time.Duration, inCounter, func(int, []byte) readAction) {}
func (*socket) end(error)                                                         {}
func (*socket) unread() bool                                                      { return false }
func (*socket) waitDrained(time.Duration)                                         {}
func (*socket) close()                                                            {}
func (*socket) setWriteDeadline(time.Time)                                        {}
func (*socket) tryWrite([][]byte) (int, error)                                    { return 0, errors.ErrUnsupported }
func (*socket) write([][]byte) error                                              { return errors.ErrUnsupported }
