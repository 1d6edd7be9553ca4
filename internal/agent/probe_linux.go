//go:build linux

package agent

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Limits that keep one probe cheap. A foreground group larger than this
// is a build, not a prompt: it counts as busy without a full look.
const (
	maxProbeProcs   = 64
	maxProbeThreads = 64
)

// ttyProbe looks, through /proc, at whether a command's foreground process
// group is blocked reading its terminal: some thread of the group is in a
// read system call on the terminal, none is running, and the group used no
// CPU since the previous look. Two looks in a row must agree, so a program
// that reads keys while it works is not taken for one that waits.
//
// Programs that wait for the terminal with epoll, poll or select (Node.js,
// full-screen programs) are never seen waiting this way: their system
// call says nothing about which descriptor they wait for.
//
// It is owned by the attention watcher goroutine.
type ttyProbe struct {
	master *os.File // the PTY master, which knows the foreground group
	leader int      // the command's pid, its session's leader
	tty    uint64   // the terminal's device number; 0 until known

	prevRead bool   // the last look found the group reading the terminal
	prevCPU  uint64 // the group's CPU ticks at that look
	buf      []byte
}

func newTTYProbe(master *os.File, pid int) *ttyProbe {
	return &ttyProbe{master: master, leader: pid, buf: make([]byte, 4096)}
}

// procStat is what the probe needs of /proc/PID/stat.
type procStat struct {
	state byte
	pgrp  int
	cpu   uint64 // utime + stime, in clock ticks
}

// sample takes one look.
func (p *ttyProbe) sample() probeVerdict {
	v, reader, editing, cpu := p.look()
	if v != probeWaiting {
		p.prevRead = false
		return v
	}
	waited := p.prevRead && cpu == p.prevCPU
	p.prevRead, p.prevCPU = true, cpu
	switch {
	case !waited:
		return probeBusy
	case editing && p.interactiveShell(reader):
		return probeIdleShell // at its prompt; a shell's own "read" builtin reads the terminal directly
	}
	return probeWaiting
}

// look walks the command's processes from the session leader, down
// through the foreground group, and reports whether a thread of the group
// is reading the terminal (and which process), or busy.
func (p *ttyProbe) look() (v probeVerdict, reader int, editing bool, cpu uint64) {
	fg, err := p.foreground()
	if err != nil || fg <= 0 || !p.knowTTY() {
		return probeBusy, 0, false, 0
	}
	queue := []int{p.leader}
	for n := 0; len(queue) > 0; n++ {
		if n == maxProbeProcs {
			return probeBusy, 0, false, 0
		}
		pid := queue[0]
		queue = queue[1:]
		st, err := p.stat(pid)
		if err != nil {
			continue // it ended meanwhile
		}
		inGroup := st.pgrp == fg
		if inGroup && st.state == 'R' {
			return probeBusy, 0, false, 0
		}
		if !inGroup && pid != p.leader {
			continue // another group's: neither it nor its children are in front
		}
		tids, err := p.tasks(pid)
		if err != nil {
			continue
		}
		if inGroup {
			cpu += st.cpu
			switch st := p.threadsReading(pid, tids); st {
			case threadRunning:
				return probeBusy, 0, false, 0
			case threadReading, threadEditing:
				reader, editing = pid, st == threadEditing
			}
		}
		queue = p.appendChildren(queue, pid, tids)
	}
	if reader == 0 {
		return probeBusy, 0, false, 0
	}
	return probeWaiting, reader, editing, cpu
}

// unreadOutput is how many bytes the program wrote to its terminal that
// the agent has not read yet.
func unreadOutput(master *os.File) int {
	rc, err := master.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) })
	return n
}

// foreground asks the terminal for its foreground process group.
func (p *ttyProbe) foreground() (int, error) {
	rc, err := p.master.SyscallConn()
	if err != nil {
		return 0, err
	}
	var pgrp int
	var ioErr error
	if err := rc.Control(func(fd uintptr) { pgrp, ioErr = unix.IoctlGetInt(int(fd), unix.TIOCGPGRP) }); err != nil {
		return 0, err
	}
	return pgrp, ioErr
}

// knowTTY finds the terminal's device number once.
func (p *ttyProbe) knowTTY() bool {
	if p.tty != 0 {
		return true
	}
	rc, err := p.master.SyscallConn()
	if err != nil {
		return false
	}
	var n uint32
	var ioErr error
	if err := rc.Control(func(fd uintptr) { n, ioErr = unix.IoctlGetUint32(int(fd), unix.TIOCGPTN) }); err != nil || ioErr != nil {
		return false
	}
	var st unix.Stat_t
	if unix.Stat("/dev/pts/"+strconv.FormatUint(uint64(n), 10), &st) != nil {
		return false
	}
	p.tty = st.Rdev
	return true
}

// callKind sorts the system calls a thread waiting for its terminal is
// found in (callKinds, per architecture).
type callKind uint8

const (
	callOther callKind = iota
	callRead
	callSelect
	callPoll
	callPpoll
)

type threadState uint8

const (
	threadOther   threadState = iota
	threadRunning             // on CPU: not waiting
	threadReading             // in read(2) of the terminal
	threadEditing             // in select or poll of the terminal alone: a line editor (readline) waits for keys
)

// threadsReading checks each thread's system call: running, reading the
// terminal, or something else.
func (p *ttyProbe) threadsReading(pid int, tids []string) threadState {
	if len(tids) > maxProbeThreads {
		return threadRunning // too many to look at: not a prompt
	}
	found := threadOther
	for _, tid := range tids {
		b, err := p.read(fmt.Sprintf("/proc/%d/task/%s/syscall", pid, tid))
		if err != nil {
			continue
		}
		if bytes.HasPrefix(b, []byte("running")) {
			return threadRunning
		}
		if st := p.readsTTY(pid, b); st != threadOther {
			found = st
		}
	}
	return found
}

// readsTTY parses /proc/PID/task/TID/syscall (the call's number, then
// its arguments in hex) and reports whether the thread waits for the
// terminal alone: a read of it, or a select or poll on nothing but it
// with no timeout (readline waits so). For select and poll it reads the
// descriptor sets from the process's memory.
func (p *ttyProbe) readsTTY(pid int, line []byte) threadState {
	f := bytes.Fields(line)
	if len(f) < 6 {
		return threadOther
	}
	nr, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return threadOther
	}
	var args [5]uint64
	for i := range args {
		if args[i], err = strconv.ParseUint(string(bytes.TrimPrefix(f[i+1], []byte("0x"))), 16, 64); err != nil {
			return threadOther
		}
	}
	var ok bool
	switch callKinds[nr] {
	case callRead:
		if p.isTTY(pid, int(uint32(args[0]))) {
			return threadReading
		}
	case callSelect: // nfds, readfds, writefds, exceptfds, timeout
		ok = args[2] == 0 && args[3] == 0 && args[4] == 0 && p.selectsTTY(pid, args[0], args[1])
	case callPoll: // fds, nfds, timeout in ms (-1: none)
		ok = uint32(args[2]) == math.MaxUint32 && p.pollsTTY(pid, args[0], args[1])
	case callPpoll: // fds, nfds, timeout (NULL: none)
		ok = args[2] == 0 && p.pollsTTY(pid, args[0], args[1])
	}
	if ok {
		return threadEditing
	}
	return threadOther
}

// selectsTTY reads select's read set and reports whether it holds the
// terminal and nothing else.
func (p *ttyProbe) selectsTTY(pid int, nfds, set uint64) bool {
	if nfds == 0 || nfds > 1024 || set == 0 {
		return false
	}
	word := uint64(strconv.IntSize / 8)
	b, err := p.readMem(pid, set, int((nfds+8*word-1)/(8*word)*word))
	if err != nil {
		return false
	}
	found := false
	for fd := 0; fd < int(nfds); fd++ {
		w := b[uint64(fd)/(8*word)*word:][:word]
		var bits uint64
		if word == 8 {
			bits = binary.NativeEndian.Uint64(w)
		} else {
			bits = uint64(binary.NativeEndian.Uint32(w))
		}
		if bits&(1<<(uint64(fd)%(8*word))) == 0 {
			continue
		}
		if !p.isTTY(pid, fd) {
			return false
		}
		found = true
	}
	return found
}

// pollsTTY reads poll's descriptors and reports whether every one polled
// for input is the terminal.
func (p *ttyProbe) pollsTTY(pid int, fds, nfds uint64) bool {
	if nfds == 0 || nfds > 16 || fds == 0 {
		return false
	}
	b, err := p.readMem(pid, fds, int(nfds)*8) // struct pollfd { int fd; short events, revents; }
	if err != nil {
		return false
	}
	found := false
	for i := 0; i < int(nfds); i++ {
		fd := int32(binary.NativeEndian.Uint32(b[i*8:]))
		events := binary.NativeEndian.Uint16(b[i*8+4:])
		if fd < 0 || events&(unix.POLLIN|unix.POLLPRI) == 0 {
			continue
		}
		if !p.isTTY(pid, int(fd)) {
			return false
		}
		found = true
	}
	return found
}

// readMem reads n bytes at addr in the process's memory. The agent may:
// the process is its descendant, and its user's.
func (p *ttyProbe) readMem(pid int, addr uint64, n int) ([]byte, error) {
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/mem", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	b := make([]byte, n)
	if got, err := unix.Pread(fd, b, int64(addr)); err != nil || got != n {
		return nil, fmt.Errorf("read memory of %d: %d bytes, %v", pid, got, err)
	}
	return b, nil
}

func (p *ttyProbe) isTTY(pid, fd int) bool {
	var st unix.Stat_t
	if unix.Stat(fmt.Sprintf("/proc/%d/fd/%d", pid, fd), &st) != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == p.tty
}

func (p *ttyProbe) tasks(pid int) ([]string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(maxProbeThreads + 1)
}

func (p *ttyProbe) appendChildren(queue []int, pid int, tids []string) []int {
	for _, tid := range tids {
		b, err := p.read(fmt.Sprintf("/proc/%d/task/%s/children", pid, tid))
		if err != nil {
			continue
		}
		for _, f := range bytes.Fields(b) {
			if c, err := strconv.Atoi(string(f)); err == nil {
				queue = append(queue, c)
			}
		}
	}
	return queue
}

// stat reads /proc/PID/stat. The command name, in parentheses, may hold
// spaces and parentheses itself: fields are counted after its last ')'.
func (p *ttyProbe) stat(pid int) (procStat, error) {
	b, err := p.read(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+2:])
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("short /proc/%d/stat", pid)
	}
	pgrp, err1 := strconv.Atoi(string(f[2]))
	utime, err2 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err3 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return procStat{state: f[0][0], pgrp: pgrp, cpu: utime + stime}, nil
}

// read reads a small /proc file into the probe's buffer; the result is
// valid until the next read.
func (p *ttyProbe) read(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	n, err := unix.Read(fd, p.buf)
	if err != nil {
		return nil, err
	}
	return p.buf[:n], nil
}

// interactiveShell reports whether pid is an interactive shell, as
// opposed to a script or a program.
func (p *ttyProbe) interactiveShell(pid int) bool {
	b, err := p.read(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return isInteractiveShell(bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0}))
}

// shells are the programs whose prompt means "idle", not "waiting".
var shells = map[string]bool{"sh": true, "bash": true, "zsh": true, "fish": true, "dash": true,
	"ksh": true, "mksh": true, "ash": true, "tcsh": true, "csh": true, "nu": true, "elvish": true}

func isInteractiveShell(argv [][]byte) bool {
	if len(argv) == 0 || !shells[filepath.Base(string(bytes.TrimPrefix(argv[0], []byte("-"))))] {
		return false
	}
	for _, a := range argv[1:] {
		switch {
		case len(a) < 2 || a[0] != '-':
			return false // a script to run
		case a[1] != '-' && bytes.IndexByte(a, 'c') >= 0:
			return false // -c COMMANDS, alone or grouped (-lc)
		}
	}
	return true
}
