//go:build linux

package relay

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"

	"switchboard/internal/wire"
)

// Read polling: agents' sockets are read by a few poller goroutines with
// epoll instead of one goroutine each parked in Go's netpoller. With a
// thousand agents each sending a small frame every few milliseconds, the
// per-goroutine path costs a wake-up, a read that returns the frame and a
// second read that returns EAGAIN before parking, for every frame; a
// poller reads each ready socket once per epoll_wait and runs its handler
// in place. Under heavy load it also naps between polls, so that one
// epoll_wait collects many sockets and the senders' writes seldom have a
// sleeping reader to wake (on loopback the sender pays for that wake-up):
// in a bare test at 100,000 frames/s from 1,000 sockets the receiver used
// 0.82 cores with goroutines and 0.61 with a napping poller, the senders
// 0.70 and 0.65 (docs/benchmarks.md).
const (
	pollReadBuf = 256 << 10             // one poller's read buffer, shared by its sockets
	pollEvents  = 256                   // sockets taken per epoll_wait
	pollWindow  = 10 * time.Millisecond // how often a poller decides whether to nap
	pollBusy    = 20                    // sockets read per millisecond above which it naps
	pollNap     = time.Millisecond      // the nap: at most this much latency added, only under load
	writePoll   = 50 * time.Millisecond // how often a blocked write rechecks its deadline
	wakeToken   = 0                     // the epoll token of a poller's eventfd
	firstToken  = wakeToken + 1         // sockets' tokens start here
	noDeadline  = int64(0)              // socket.writeDeadline when none is set
	maxIovecs   = 1024                  // IOV_MAX
)

// pollers spreads sockets over a few pollers.
type pollers struct {
	all  []*poller
	next atomic.Uint32
}

// newPollers starts n pollers.
func newPollers(n int, log *slog.Logger) (*pollers, error) {
	ps := &pollers{}
	for range max(n, 1) {
		p, err := newPoller(log)
		if err != nil {
			ps.stop()
			return nil, err
		}
		ps.all = append(ps.all, p)
		go p.run()
	}
	return ps, nil
}

// detach takes a TCP connection's socket out of Go's netpoller and gives
// it to a poller. The socket is not read until its reader starts.
func (ps *pollers) detach(nc net.Conn) (*socket, error) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil, fmt.Errorf("detach %T: not a TCP connection", nc)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("detach: %w", err)
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, fmt.Errorf("detach: %w", err)
	}
	if derr != nil {
		return nil, fmt.Errorf("detach: dup: %w", derr)
	}
	// The duplicate shares the open socket, which stays non-blocking;
	// closing the original only unregisters it from Go's netpoller.
	_ = nc.Close()
	p := ps.all[int(ps.next.Add(1))%len(ps.all)]
	return p.add(fd), nil
}

// stop ends every poller. Their sockets must be closed first.
func (ps *pollers) stop() {
	for _, p := range ps.all {
		p.stop()
	}
}

// poller reads many sockets from one goroutine.
type poller struct {
	epfd, wakefd int
	log          *slog.Logger
	stopping     atomic.Bool
	done         chan struct{}

	// Owned by run: the epoll set as Go's netpoller sees it, while the
	// poller waits there (see poll).
	waiterFile *os.File
	waiter     syscall.RawConn

	mu    sync.Mutex
	socks map[uint32]*socket // by epoll token
	next  uint32

	tallies []tally // owned by run: counts of this poll, added up by counter
}

// tally is what a poll counted for one counter.
type tally struct {
	counter     inCounter
	msgs, bytes int
}

func newPoller(log *slog.Logger) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeToken}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("epoll_ctl eventfd: %w", err)
	}
	return &poller{epfd: epfd, wakefd: wakefd, log: log, done: make(chan struct{}),
		socks: make(map[uint32]*socket), next: firstToken}, nil
}

func (p *poller) add(fd int) *socket {
	s := &socket{p: p, fd: fd, ended: make(chan struct{})}
	p.mu.Lock()
	s.token = p.next
	p.next++
	if p.next == 0 {
		p.next = firstToken // after four billion sockets; the old ones are long closed
	}
	p.socks[s.token] = s
	p.mu.Unlock()
	return s
}

func (p *poller) remove(token uint32) {
	p.mu.Lock()
	delete(p.socks, token)
	p.mu.Unlock()
}

// tally adds a socket's counts to this poll's; only run calls it.
func (p *poller) tally(c inCounter, msgs, bytes int) {
	for i := range p.tallies {
		if t := &p.tallies[i]; t.counter == c {
			t.msgs += msgs
			t.bytes += bytes
			return
		}
	}
	p.tallies = append(p.tallies, tally{counter: c, msgs: msgs, bytes: bytes})
}

// addTallies adds this poll's counts to their counters.
func (p *poller) addTallies() {
	for _, t := range p.tallies {
		t.counter.add(t.msgs, t.bytes)
	}
	p.tallies = p.tallies[:0]
}

// run reads ready sockets until stopped.
func (p *poller) run() {
	defer close(p.done)
	defer p.closeWaiter()
	events := make([]unix.EpollEvent, pollEvents)
	buf := make([]byte, pollReadBuf)
	windowStart, windowReads, napping := time.Now(), 0, false
	for {
		n, err := p.poll(events)
		if err != nil {
			p.log.Error("read poller failed; its connections stop being read", "err", err)
			return
		}
		now := time.Now()
		for _, ev := range events[:n] {
			if ev.Fd == wakeToken {
				if p.stopping.Load() {
					return
				}
				continue
			}
			p.mu.Lock()
			s := p.socks[uint32(ev.Fd)]
			p.mu.Unlock()
			if s != nil {
				s.readReady(buf, now)
			}
		}
		p.addTallies()
		windowReads += n
		if el := now.Sub(windowStart); el >= pollWindow {
			napping = windowReads > pollBusy*int(el/time.Millisecond)
			windowStart, windowReads = now, 0
		}
		if napping {
			// Out of Go's netpoller while napping: every socket that became
			// ready would otherwise wake its sleeping thread.
			p.closeWaiter()
			time.Sleep(pollNap)
		}
	}
}

// poll returns the sockets that are ready, waiting for one if none is.
// It never sleeps in epoll_wait, which would hold the goroutine's P (Go
// lends it to others only after up to 10 ms, so goroutines waited that
// long with both pollers asleep): it waits in Go's netpoller, where the
// epoll set itself is registered, read-ready when a socket is.
func (p *poller) poll(events []unix.EpollEvent) (int, error) {
	if p.waiter == nil { // napping just now, or the first time
		n, err := epollNow(p.epfd, events)
		if n != 0 || err != nil {
			return n, err
		}
		if err := p.openWaiter(); err != nil {
			return 0, err
		}
	}
	var n int
	var err error
	// Read calls the function before it parks, and again each time Go's
	// netpoller finds the epoll set ready.
	rerr := p.waiter.Read(func(uintptr) bool {
		n, err = epollNow(p.epfd, events)
		return n != 0 || err != nil
	})
	if rerr != nil {
		return 0, fmt.Errorf("wait for sockets: %w", rerr)
	}
	return n, err
}

// epollNow takes the ready sockets without waiting.
func epollNow(epfd int, events []unix.EpollEvent) (int, error) {
	for {
		n, err := unix.EpollWait(epfd, events, 0)
		if err != unix.EINTR {
			if err != nil {
				return 0, fmt.Errorf("epoll_wait: %w", err)
			}
			return n, nil
		}
	}
}

// openWaiter registers a duplicate of the epoll set in Go's netpoller.
func (p *poller) openWaiter() error {
	fd, err := unix.FcntlInt(uintptr(p.epfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("dup epoll set: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil { // so that os.NewFile registers it
		unix.Close(fd)
		return fmt.Errorf("epoll set non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(fd), "read-poller")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return fmt.Errorf("epoll set: %w", err)
	}
	p.waiterFile, p.waiter = f, rc
	return nil
}

func (p *poller) closeWaiter() {
	if p.waiterFile != nil {
		p.waiterFile.Close()
		p.waiterFile, p.waiter = nil, nil
	}
}

func (p *poller) stop() {
	p.stopping.Store(true)
	var one [8]byte
	one[0] = 1
	_, _ = unix.Write(p.wakefd, one[:])
	<-p.done
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
}

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

	// Data messages handled and not yet added to counter (under mu).
	counter         inCounter
	inMsgs, inBytes int
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
	s.feedLocked(buf[:n])
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
		s.disarmLocked()
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

// checkIdle ends reading once no data has come for the timeout.
func (s *socket) checkIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if isClosed(s.ended) {
		return
	}
	idle := time.Since(time.Unix(0, s.lastRead.Load()))
	if idle < s.timeout {
		s.idle.Reset(s.timeout - idle)
		return
	}
	s.endLocked(fmt.Errorf("read: nothing for %s: %w", s.timeout, os.ErrDeadlineExceeded))
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
	unix.Close(s.fd)
	s.p.remove(s.token)
}

// setWriteDeadline bounds the write under way and the ones after it; any
// goroutine may call it.
func (s *socket) setWriteDeadline(t time.Time) {
	s.writeDeadline.Store(t.UnixNano())
}

// tryWrite writes bufs with one writev(2) that does not wait, and returns
// how many bytes the socket took.
func (s *socket) tryWrite(bufs [][]byte) (int, error) {
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
	dup, err := unix.FcntlInt(uintptr(s.fd), unix.F_DUPFD_CLOEXEC, 0)
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
