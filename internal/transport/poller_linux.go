//go:build linux

package transport

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Read polling: agents' sockets are read by a few poller goroutines with
// epoll instead of one goroutine each parked in Go's netpoller. With a
// thousand agents each sending a small frame every few milliseconds, the
// per-goroutine path costs a wake-up, a read that returns the frame and a
// second read that returns EAGAIN before parking, for every frame; a
// poller reads each ready socket once per epoll_wait and runs its handler
// in place. Under heavy load it also naps between polls, so that one
// epoll_wait collects many sockets and the senders' writes seldom have a
// sleeping reader to wake (on loopback the sender pays for that wake-up).
// What this saved is measured in docs/benchmarks.md.
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
