//go:build linux

package transport

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"

	"switchboard/internal/wire"
)

// readAction is what a socket's handler tells the poller to do next.
type readAction int

const (
	readOn    readAction = iota
	readPause            // stop reading until start is called again
	readEnd              // reading is over (endErr says why)
)

// socket is a connection's TCP socket once it has left Go's netpoller. Its
// poller reads it and runs the handler; the connection's writer writes it
// with non-blocking system calls, waiting in poll(2) when it is full.
type socket struct {
	p     *poller
	token uint32
	fd    int

	// mu is held while the socket is read, parsed and handled, and to
	// start, pause, end or close it: a handler never runs concurrently
	// with another or after the end.
	mu      sync.Mutex
	armed   bool // in the poller's epoll set
	closed  bool
	parser  frameParser
	handle  func(kind int, data []byte) readAction
	endErr  error         // why reading ended; set before ended closes
	drain   int           // after a message over the limit: bytes still read and dropped
	drained chan struct{} // closed when that dropping is over
	ended   chan struct{} // closed when reading is over
	idle    *time.Timer   // ends reading after readTimeout without data
	timeout time.Duration

	lastRead      atomic.Int64 // unix nanoseconds of the last data read
	writeDeadline atomic.Int64 // unix nanoseconds, or noDeadline

	// wmu is held around each write system call and by close, before
	// s.mu is released: no write can reach a closed descriptor, whose
	// number the next accepted connection may already have. (Only the
	// connection's writer writes, and only it closes; this makes a
	// mistake there a refused write instead of another peer's corrupt
	// stream.)
	wmu     sync.Mutex
	wclosed bool // under wmu

	// Data messages handled and not yet added to counter (under mu).
	counter         inCounter
	inMsgs, inBytes int

	tls *tlsRead // the TLS layer the socket's bytes go through; nil on a plain socket
}

// start hands the socket's messages to handle, on the poller's goroutine,
// until handle pauses or ends reading, counting data messages in counter.
// Messages left over from before a pause are handled first, on the
// caller's. limit caps a message's size; timeout ends reading after that
// long without data.
func (s *socket) start(limit int, timeout time.Duration, counter inCounter, handle func(kind int, data []byte) readAction) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || isClosed(s.ended) {
		return
	}
	s.parser.limit = limit
	s.handle = handle
	s.counter = counter
	s.lastRead.Store(time.Now().UnixNano())
	s.timeout = timeout
	if s.idle == nil {
		s.idle = time.AfterFunc(timeout, s.checkIdle)
	} else {
		s.idle.Reset(timeout)
	}
	more := s.feedLocked(nil)
	if more && s.tls != nil {
		more = s.decryptLocked(nil) // records tls.Conn or the socket kept from before
	}
	s.countDirectLocked() // leftovers were handled here, not on the poller's goroutine
	if !more {
		return
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(s.token)}
	if err := unix.EpollCtl(s.p.epfd, unix.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
		s.endLocked(fmt.Errorf("epoll_ctl add: %w", err))
		return
	}
	s.armed = true
}

// readReady reads what the socket has, once: epoll is level-triggered, so
// what one read leaves is reported again.
func (s *socket) readReady(buf []byte, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.armed {
		return // paused or ended since epoll_wait reported it
	}
	n, err := unix.Read(s.fd, buf)
	if s.drain > 0 {
		if err == nil {
			s.drain -= n
		}
		if s.drain <= 0 || n == 0 || (err != nil && err != unix.EAGAIN && err != unix.EINTR) {
			s.stopDrainLocked() // enough, the end of the stream, or an error
		}
		return
	}
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return
	case err != nil:
		s.endLocked(fmt.Errorf("read: %w", err))
		return
	case n == 0:
		if len(s.parser.partial) > 0 || s.parser.msgKind != 0 {
			s.endLocked(fmt.Errorf("read: %w", io.ErrUnexpectedEOF))
		} else {
			s.endLocked(io.EOF)
		}
		return
	}
	s.lastRead.Store(now.UnixNano())
	if s.tls != nil {
		s.decryptLocked(buf[:n])
	} else {
		s.feedLocked(buf[:n])
	}
	if s.inMsgs > 0 {
		s.p.tally(s.counter, s.inMsgs, s.inBytes)
		s.inMsgs, s.inBytes = 0, 0
	}
}

// countDirectLocked adds what the socket counted straight to its counter,
// off the poller's goroutine.
func (s *socket) countDirectLocked() {
	if s.inMsgs > 0 {
		s.counter.add(s.inMsgs, s.inBytes)
		s.inMsgs, s.inBytes = 0, 0
	}
}

// feedLocked parses data and handles the messages in it; it reports
// whether reading goes on.
func (s *socket) feedLocked(data []byte) bool {
	action := readOn
	_, err := s.parser.feed(data, func(kind int, payload []byte) bool {
		if kind < websocket.CloseMessage && s.counter.msgs != nil {
			s.inMsgs++
			s.inBytes += len(payload)
		}
		action = s.handle(kind, payload)
		return action == readOn
	})
	switch {
	case errors.Is(err, wire.ErrTooLarge):
		// Reading ends, but what the peer sent of the message is read
		// and dropped a while yet, so that the socket is not reset, losing
		// the reply that says why, before the peer reads it.
		s.drain, s.drained = maxTooLargeSay, make(chan struct{})
		s.endErr = err
		close(s.ended)
		s.idle.Stop()
		if !s.armed {
			s.stopDrainLocked() // left over from a pause: nothing is being read
		}
	case err != nil:
		s.endLocked(err)
	case action == readPause:
		// Not read while paused, so its silence says nothing of the
		// peer: the idle clock starts again with start.
		s.disarmLocked()
		s.idle.Stop()
	case action == readEnd:
		s.endLocked(errReadEnded)
	}
	return err == nil && action == readOn
}

// stopDrainLocked stops dropping what follows a message over the limit.
func (s *socket) stopDrainLocked() {
	s.disarmLocked()
	s.drain = 0
	if s.drained != nil && !isClosed(s.drained) {
		close(s.drained)
	}
}

// waitDrained waits until what followed a message over the limit has
// been dropped (at most maxTooLargeSay bytes), the socket is closed, or
// the time is up.
func (s *socket) waitDrained(d time.Duration) {
	s.mu.Lock()
	drained := s.drained
	s.mu.Unlock()
	if drained == nil {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-drained:
	case <-t.C:
	}
}

// errReadEnded is the end of reading a handler asked for.
var errReadEnded = errors.New("reading ended")

// end ends reading with err, unless it has ended already.
func (s *socket) end(err error) {
	s.mu.Lock()
	s.endLocked(err)
	s.mu.Unlock()
}

func (s *socket) endLocked(err error) {
	if isClosed(s.ended) {
		return
	}
	s.disarmLocked()
	if s.idle != nil {
		s.idle.Stop()
	}
	s.endErr = err
	close(s.ended)
}

func (s *socket) disarmLocked() {
	if s.armed {
		_ = unix.EpollCtl(s.p.epfd, unix.EPOLL_CTL_DEL, s.fd, nil)
		s.armed = false
	}
}

// checkIdle ends reading once no data has come for the timeout. Bytes
// waiting in the socket that the poller has not read yet are not silence:
// the relay is behind (its poller busy or starved of CPU), not the peer,
// and the socket is looked at again a timeout later.
func (s *socket) checkIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if isClosed(s.ended) || !s.armed {
		return
	}
	idle := time.Since(time.Unix(0, s.lastRead.Load()))
	if idle < s.timeout {
		s.idle.Reset(s.timeout - idle)
		return
	}
	if s.unreadLocked() {
		s.idle.Reset(s.timeout)
		return
	}
	s.endLocked(fmt.Errorf("read: nothing for %s: %w", s.timeout, os.ErrDeadlineExceeded))
}

// unread reports whether the peer has sent bytes not read yet.
func (s *socket) unread() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unreadLocked()
}

func (s *socket) unreadLocked() bool {
	if s.closed {
		return false
	}
	n, err := unix.IoctlGetInt(s.fd, unix.SIOCINQ)
	return err == nil && n > 0
}

// close ends reading and closes the socket. Only the connection's last
// writer calls it, so no write is under way.
func (s *socket) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.stopDrainLocked()
	s.endLocked(net.ErrClosed)
	s.closed = true
	s.wmu.Lock()
	s.wclosed = true
	unix.Close(s.fd)
	s.wmu.Unlock()
	s.p.remove(s.token)
}

// setWriteDeadline bounds the write under way and the ones after it; any
// goroutine may call it.
func (s *socket) setWriteDeadline(t time.Time) {
	s.writeDeadline.Store(t.UnixNano())
}

// errSocketClosed is a write refused because the socket is closed.
var errSocketClosed = errors.New("write: socket closed")

// tryWrite writes bufs with one writev(2) that does not wait, and returns
// how many bytes the socket took.
func (s *socket) tryWrite(bufs [][]byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.wclosed {
		return 0, errSocketClosed
	}
	for {
		n, err := unix.Writev(s.fd, bufs)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, nil
		case err != nil:
			return 0, fmt.Errorf("writev: %w", err)
		}
		return n, nil
	}
}

// write writes all of bufs, waiting for room until the write deadline.
func (s *socket) write(bufs [][]byte) error {
	for len(bufs) > 0 {
		batch := bufs[:min(len(bufs), maxIovecs)]
		n, err := s.tryWrite(batch)
		if err != nil {
			return err
		}
		bufs = consume(bufs, n)
		if len(bufs) == 0 {
			return nil
		}
		if n == 0 {
			if err := s.waitWritable(); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitWritable waits until the socket has room or the write deadline
// passes, rechecking the deadline, which others may move. It waits in Go's
// netpoller, on a duplicate of the socket registered only for the wait: a
// blocking poll(2) would keep the goroutine's P until sysmon took it back
// (up to 10 ms on an idle relay). The duplicate shares the open socket, so
// its readiness is the socket's.
func (s *socket) waitWritable() error {
	s.wmu.Lock()
	if s.wclosed {
		s.wmu.Unlock()
		return errSocketClosed
	}
	dup, err := unix.FcntlInt(uintptr(s.fd), unix.F_DUPFD_CLOEXEC, 0)
	s.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("wait for room: dup: %w", err)
	}
	f := os.NewFile(uintptr(dup), "agent socket") // non-blocking, so Go's netpoller takes it
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("wait for room: %w", err)
	}
	for {
		wait := writePoll
		if dl := s.writeDeadline.Load(); dl != noDeadline {
			left := time.Until(time.Unix(0, dl))
			if left <= 0 {
				return fmt.Errorf("write: %w", os.ErrDeadlineExceeded)
			}
			wait = min(wait, left)
		}
		if err := f.SetWriteDeadline(time.Now().Add(wait)); err != nil {
			return fmt.Errorf("wait for room: %w", err)
		}
		err := rc.Write(func(fd uintptr) bool {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			n, err := unix.Poll(fds, 0)
			return n > 0 || (err != nil && err != unix.EINTR) // room, or an error the next write reports
		})
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("wait for room: %w", err)
		}
	}
}

// consume drops the first n bytes of bufs.
func consume(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if n > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}
