package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"switchboard/internal/wire"
)

// PTY behaviour.
//
// A command's terminal starts in the kernel's default ("cooked") mode,
// as under ssh -t: dashboards render a terminal, and programs expect one.
// In that mode the tty itself rewrites output "\n" as "\r\n" (ONLCR) and
// echoes input. The agent forwards exactly the bytes the tty produces; a
// program that needs the raw bytes puts its terminal in raw mode, as any
// terminal program does (stty raw -echo).
const (
	readSize    = 32 << 10
	drainQuiet  = 200 * time.Millisecond // see readAll
	inputQueue  = 64                     // input chunks waiting for a slow program
	defaultCols = 80
	defaultRows = 24
	defaultTerm = "xterm-256color"
)

const errNoCommand = "a command needs exactly one of argv and shell"

var errInputFull = errors.New("input queue full: the program is not reading its terminal")

// process is one command running in its own pseudo-terminal, as the leader
// of its own session and process group, so that signals reach everything
// it started.
type process struct {
	// Static after startProcess.
	cmd     *exec.Cmd
	ptmx    *os.File // PTY master; pollable, so deadlines and Close interrupt I/O
	pid     int
	started time.Time
	grace   time.Duration
	timeout time.Duration
	input   chan []byte   // to the input writer goroutine
	done    chan struct{} // closed when run is finishing: the input writer quits

	inMu     sync.Mutex // orders input: held while writing it or queueing it
	inQueued int        // chunks queued for the input writer and not yet written

	exited  atomic.Bool // reaped: reads are draining what is left
	abandon atomic.Bool // a stop arrived while draining: stop reading now

	mu         sync.Mutex // guards the fields below
	reaped     bool       // the pid may be reused: never signal it again
	stopState  wire.CommandState
	stopReason string
	timers     []*time.Timer
}

// result is how a process ended.
type result struct {
	state    wire.CommandState
	exitCode *int
	signal   string
	reason   string
	started  time.Time
	ended    time.Time
}

// startProcess starts spec in a new PTY, with own added to its
// environment last (so nothing overrides it). The caller must call run.
func startProcess(spec wire.CommandSpec, grace time.Duration, own []string) (*process, error) {
	argv, err := argvOf(spec)
	if err != nil {
		return nil, err
	}
	if err := checkDir(spec.Cwd); err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = spec.Cwd
	cmd.Env = append(environ(spec.Env), own...)
	size := &pty.Winsize{Cols: dim(spec.Cols, defaultCols), Rows: dim(spec.Rows, defaultRows)}
	// The command's clock starts before it does: its timing records, and
	// a replay, never put its output earlier than it was.
	started := time.Now()
	master, err := pty.StartWithSize(cmd, size) // sets Setsid and Setctty
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	ptmx, err := pollable(master)
	if err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return nil, err
	}
	return &process{
		cmd: cmd, ptmx: ptmx, pid: cmd.Process.Pid, started: started,
		grace: grace, timeout: time.Duration(spec.TimeoutMS) * time.Millisecond,
		input: make(chan []byte, inputQueue), done: make(chan struct{}),
	}, nil
}

func argvOf(spec wire.CommandSpec) ([]string, error) {
	switch {
	case len(spec.Argv) > 0 && spec.Shell != "", len(spec.Argv) == 0 && spec.Shell == "":
		return nil, errors.New(errNoCommand)
	case spec.Shell != "":
		return []string{"/bin/sh", "-c", spec.Shell}, nil
	case spec.Argv[0] == "":
		return nil, errors.New("argv[0] is empty")
	}
	return spec.Argv, nil
}

// checkDir vets the working directory up front: a failed chdir in the
// child surfaces only as "fork/exec PROGRAM: no such file or directory",
// which blames the program.
func checkDir(dir string) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("working directory %s is not a directory", dir)
	}
	return nil
}

// environ is the agent's environment plus extra. TERM describes the
// dashboards' terminal emulator, not the agent's, so it is set unless the
// command sets it.
func environ(extra map[string]string) []string {
	env := append(os.Environ(), "TERM="+defaultTerm) // later entries win
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+extra[k])
	}
	return env
}

func dim(v, def int) uint16 {
	if v <= 0 {
		return uint16(def)
	}
	return uint16(min(v, 0xffff))
}

// pollable replaces a PTY master with a non-blocking copy. creack/pty
// hands back a file in blocking mode (it calls Fd), where read deadlines do
// nothing and Close does not interrupt a blocked Read or Write; draining
// after exit and shutting down both depend on those.
func pollable(f *os.File) (*os.File, error) {
	defer f.Close()
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicate pty master: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("make pty master non-blocking: %w", err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// run streams the process's output to out until the terminal is closed,
// then reaps the process and reports how it ended. out gets each read as
// it happens and must not keep the slice.
func (p *process) run(out func([]byte)) result {
	if p.timeout > 0 {
		p.addTimer(time.AfterFunc(p.timeout, p.expire))
	}
	waited := make(chan error, 1)
	go func() { waited <- p.wait() }()
	inputDone := make(chan struct{})
	go func() {
		defer close(inputDone)
		p.writeInput()
	}()

	// Rule 1 of the protocol: all output first, then the exit.
	p.readAll(out)
	err := <-waited
	p.finish()
	<-inputDone
	return p.result(err)
}

// readAll reads the terminal until every holder of its other side has
// closed it (EIO). A program may exit while something it started still
// holds the terminal open; once the process is reaped, reading goes on
// only while output keeps coming, and stops after drainQuiet of silence.
func (p *process) readAll(out func([]byte)) {
	buf := make([]byte, readSize)
	for {
		n, err := p.ptmx.Read(buf)
		if n > 0 {
			out(buf[:n])
		}
		if err != nil {
			return // EIO: closed everywhere; or the drain deadline passed
		}
		if p.exited.Load() && !p.abandon.Load() {
			_ = p.ptmx.SetReadDeadline(time.Now().Add(drainQuiet))
		}
	}
}

// wait reaps the process and switches reading to draining.
func (p *process) wait() error {
	err := p.cmd.Wait()
	p.mu.Lock()
	p.reaped = true
	p.stopTimersLocked()
	p.mu.Unlock()
	p.exited.Store(true)
	_ = p.ptmx.SetReadDeadline(time.Now().Add(drainQuiet))
	return err
}

// writeInput writes queued input to the terminal until run finishes.
func (p *process) writeInput() {
	for {
		select {
		case <-p.done:
			return
		case b := <-p.input:
			_, err := p.ptmx.Write(b)
			p.inMu.Lock()
			p.inQueued--
			p.inMu.Unlock()
			if err != nil {
				return // the terminal is gone; later input is dropped at the queue
			}
		}
	}
}

// sendInput writes b to the terminal without blocking. While nothing
// is queued it writes at once, from the caller's goroutine: a keystroke
// then reaches the program without waking the input writer, which is
// most of an interactive echo's time in the agent. What the terminal
// does not take at once is queued for the input writer, behind which
// later input waits its turn; a program that does not read its input
// must not stall the connection that carries it.
func (p *process) sendInput(b []byte) error {
	p.inMu.Lock()
	defer p.inMu.Unlock()
	if p.inQueued == 0 {
		n, err := p.writeNow(b)
		if err != nil {
			return fmt.Errorf("write to terminal: %w", err)
		}
		if b = b[n:]; len(b) == 0 {
			return nil
		}
	}
	select {
	case p.input <- b:
		p.inQueued++
		return nil
	default:
		return errInputFull
	}
}

// writeNow writes what the terminal takes without waiting.
func (p *process) writeNow(b []byte) (int, error) {
	rc, err := p.ptmx.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		n, werr = unix.Write(int(fd), b)
		return true // never wait: the input writer does the waiting
	})
	switch {
	case err != nil:
		return 0, err
	case werr == unix.EAGAIN || werr == unix.EINTR:
		return 0, nil
	case werr != nil:
		return 0, werr
	}
	return n, nil
}

// resize sets the terminal size; the kernel tells the program (SIGWINCH).
// It goes through SyscallConn, not pty.Setsize, which would put the master
// back in blocking mode.
func (p *process) resize(cols, rows int) error {
	rc, err := p.ptmx.SyscallConn()
	if err != nil {
		return fmt.Errorf("resize: %w", err)
	}
	ws := &unix.Winsize{Col: dim(cols, defaultCols), Row: dim(rows, defaultRows)}
	var ioErr error
	if err := rc.Control(func(fd uintptr) { ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) }); err != nil {
		return fmt.Errorf("resize: %w", err)
	}
	if ioErr != nil {
		return fmt.Errorf("resize: %w", ioErr)
	}
	return nil
}

// stop ends the process: first to the whole process group, then SIGKILL
// after the grace period. The first stop decides the final state.
func (p *process) stop(state wire.CommandState, reason string, first syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		// It ended by itself; only a lingering holder of the terminal is
		// left, and its pid may already be reused. Stop reading instead.
		p.abandon.Store(true)
		_ = p.ptmx.SetReadDeadline(time.Now())
		return
	}
	if p.stopState != "" {
		return
	}
	p.stopState, p.stopReason = state, reason
	p.signalLocked(first)
	p.timers = append(p.timers, time.AfterFunc(p.grace, p.kill))
}

func (p *process) expire() {
	p.stop(wire.StateTimedOut, fmt.Sprintf("timed out after %s", p.timeout), syscall.SIGINT)
}

func (p *process) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reaped {
		p.signalLocked(syscall.SIGKILL)
	}
}

// signalLocked signals the process group: the leader's pid is its id.
func (p *process) signalLocked(sig syscall.Signal) {
	_ = syscall.Kill(-p.pid, sig) // ESRCH: the group is already gone
}

func (p *process) addTimer(t *time.Timer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		t.Stop()
		return
	}
	p.timers = append(p.timers, t)
}

func (p *process) stopTimersLocked() {
	for _, t := range p.timers {
		t.Stop()
	}
	p.timers = nil
}

// finish releases the terminal once output is drained and the process reaped.
func (p *process) finish() {
	close(p.done)
	_ = p.ptmx.Close()
}

func (p *process) result(waitErr error) result {
	r := result{state: wire.StateExited, started: p.started, ended: time.Now()}
	p.mu.Lock()
	if p.stopState != "" {
		r.state, r.reason = p.stopState, p.stopReason
	}
	p.mu.Unlock()
	ps := p.cmd.ProcessState
	if ps == nil {
		r.reason = fmt.Sprintf("wait for process: %v", waitErr)
		return r
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.signal = unix.SignalName(ws.Signal())
		return r
	}
	code := ps.ExitCode()
	r.exitCode = &code
	return r
}
