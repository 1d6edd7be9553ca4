package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"switchboard/internal/proctest"
	"switchboard/internal/relaytest"
	"syscall"
	"testing"
	"time"
)

// bin holds the built binaries.
var bin string

func TestMain(m *testing.M) {
	dir, err := proctest.Build("relay", "agent", "tui")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running binary.
type proc struct {
	t   *testing.T
	cmd *exec.Cmd
	log *os.File
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{t: t, cmd: cmd, log: logf}
	t.Cleanup(func() { p.stop(syscall.SIGTERM) })
	return p
}

// stop signals the process and waits for it.
func (p *proc) stop(sig syscall.Signal) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		p.t.Errorf("%s did not stop on %v", p.cmd.Path, sig)
	}
}

func (p *proc) logText() string {
	b, _ := os.ReadFile(p.log.Name())
	return string(b)
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startRelay runs the relay binary and waits until it serves.
func startRelay(t *testing.T, addr, db string, extra ...string) *proc {
	t.Helper()
	if len(extra) == 0 || extra[0] != "--secure" {
		extra = append([]string{"--insecure-no-auth"}, extra...)
	} else {
		extra = extra[1:]
	}
	p := start(t, "relay", append([]string{"--addr", addr, "--db", db, "--log-level", "warn"}, extra...)...)
	relaytest.Eventually(t, 15*time.Second, "relay /healthz", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// tui runs the tui binary to completion.
func tui(t *testing.T, relay string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "tui"), args...)
	cmd.Env = os.Environ()
	if relay != "" {
		cmd.Env = append(cmd.Env, "SWITCHBOARD_RELAY=ws://"+relay)
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("tui %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}
