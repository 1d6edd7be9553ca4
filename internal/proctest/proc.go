package proctest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Proc is a running binary, logging to a file in the test's directory.
type Proc struct {
	t        *testing.T
	name     string
	cmd      *exec.Cmd
	logf     *os.File
	exited   chan struct{} // closed when the process has ended
	signaled atomic.Bool   // we stopped it; otherwise an exit is a crash
}

// Start runs binary name from dir, with env added to this process's
// environment, until the test ends. Then it is stopped with SIGTERM and
// the test fails if the process crashed, exited by itself, or logged a
// panic or (built with -race) a data race; on any failure its log is shown.
func Start(t *testing.T, dir, name string, env []string, args ...string) *Proc {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), name+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(dir, name), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{t: t, name: name, cmd: cmd, logf: logf, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.Stop(syscall.SIGTERM)
		p.checkLog()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, Tail(p.LogText(), 8000))
		}
		logf.Close()
	})
	return p
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Alive reports whether the process is still running.
func (p *Proc) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Stop signals the process and waits for it to end.
func (p *Proc) Stop(sig syscall.Signal) {
	if !p.Alive() {
		return
	}
	p.signaled.Store(true)
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		p.t.Errorf("%s did not stop within 20s of %v", p.name, sig)
	}
}

// Exits waits for a process that is expected to end by itself.
func (p *Proc) Exits(timeout time.Duration) bool {
	p.signaled.Store(true) // its exit is no crash
	select {
	case <-p.exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// ExitCode is the process's exit code once it has ended (-1 if a signal
// ended it), or -1 while it runs.
func (p *Proc) ExitCode() int {
	if p.Alive() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// LogText is what the process has logged so far.
func (p *Proc) LogText() string {
	b, _ := os.ReadFile(p.logf.Name())
	return string(b)
}

// checkLog fails the test if the process crashed, panicked (net/http
// recovers a handler's panic and logs it, so the process survives one) or,
// when built with -race, saw a data race.
func (p *Proc) checkLog() {
	log := p.LogText()
	for _, bad := range []string{"panic", "DATA RACE", "fatal error"} {
		if strings.Contains(log, bad) {
			p.t.Errorf("%s log contains %q:\n%s", p.name, bad, Tail(log, 8000))
		}
	}
	if !p.signaled.Load() {
		p.t.Errorf("%s exited by itself (%v):\n%s", p.name, p.cmd.ProcessState, Tail(log, 4000))
	}
}

// Tail is the last n bytes of s, marked as cut when longer.
func Tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// FreeAddr returns a loopback address nobody listens on.
func FreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
