package sshd_test

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"switchboard/internal/relaytest"
	"switchboard/internal/sshd"
	"switchboard/internal/store"
)

// dial opens an SSH connection with the Go client, for what the real one
// cannot be made to do (stop reading; open sessions side by side).
func (h *harness) dial(keyFile string) *gossh.Client {
	h.t.Helper()
	b, err := os.ReadFile(keyFile)
	if err != nil {
		h.t.Fatal(err)
	}
	signer, err := gossh.ParsePrivateKey(b)
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := gossh.Dial("tcp", "127.0.0.1:"+h.port, &gossh.ClientConfig{User: "test",
		Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)}, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// TestStalledClient: a client that stops reading is cut off once a write
// has waited the stall limit; meanwhile the relay serves everyone else and
// stores the whole output of the command it streamed.
func TestStalledClient(t *testing.T) {
	h := newHarness(t, sshd.Config{}, func(s *sshd.Server) { s.SetTimings(time.Second, time.Minute) })
	h.agent("box")
	alice := h.user("alice", store.RoleOperator)
	h.agentsOnline(alice, "box")

	c := h.dial(alice)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.StdoutPipe(); err != nil { // never read
		t.Fatal(err)
	}
	if err := sess.Start("run --agent box -- sh -c 'head -c 30000000 /dev/zero | tr \"\\0\" x; echo; echo done'"); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- c.Wait() }()
	select {
	case <-ended:
	case <-time.After(60 * time.Second):
		t.Fatal("a client that reads nothing was never cut off")
	}
	relaytest.Eventually(t, 10*time.Second, "the session to end", func() bool { return h.srv.Sessions() == 0 })
	start := time.Now()
	if _, errs, code := h.ssh(alice, "agents"); code != 0 {
		t.Fatalf("another session after the stall: exit %d, %q", code, errs)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("another session took %s", took)
	}
	relaytest.EventuallyEvery(t, 200*time.Millisecond, 60*time.Second, "the command to end, all of it stored", func() bool {
		out, _, code := h.ssh(alice, "history", "--limit", "1")
		return code == 0 && strings.Contains(out, "exit 0")
	})
}

// TestSessionsPerKeyOnOneConnection: sessions multiplexed on connections
// count against the key's limit too, and one connection may open no more
// channels than that.
func TestSessionsPerKeyOnOneConnection(t *testing.T) {
	h := newHarness(t, sshd.Config{SessionsPerKey: 2})
	h.agent("box")
	alice := h.user("alice", store.RoleOperator)
	h.agentsOnline(alice, "box")
	c := h.dial(alice)
	for i := range 2 {
		sess, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		if err := sess.Start("wait --agent box --for offline"); err != nil {
			t.Fatal(err)
		}
		relaytest.Eventually(t, 20*time.Second, "the session to open", func() bool { return h.srv.Sessions() == i+1 })
	}
	if _, err := c.NewSession(); err == nil || !strings.Contains(err.Error(), "2 sessions are open on this connection") {
		t.Errorf("a third channel on the connection: %v", err)
	}
	sess, err := h.dial(alice).NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var errb strings.Builder
	sess.Stderr = &errb
	if err := sess.Run("agents"); err == nil || !strings.Contains(errb.String(), "has 2 sessions open, the limit") {
		t.Errorf("a third session on another connection: %v, %q", err, errb.String())
	}
}

// TestIdleDashboard: a dashboard whose user types nothing for the idle
// timeout is closed, saying so; one who types keeps it.
func TestIdleDashboard(t *testing.T) {
	h := newHarness(t, sshd.Config{IdleTimeout: 2 * time.Second})
	alice := h.user("alice", store.RoleViewer)
	cmd := exec.Command("ssh", append([]string{"-tt"}, h.sshArgs(alice)...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ended := make(chan error, 1)
	go func() { ended <- cmd.Wait() }()
	relaytest.Eventually(t, 20*time.Second, "the dashboard: "+tail(out.String(), 500), func() bool { return strings.Contains(out.String(), "connected") })
	opened := time.Now()
	for time.Since(opened) < 3*time.Second { // typing keeps it open past the timeout
		if _, err := io.WriteString(stdin, "j"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	select {
	case <-ended:
		t.Fatalf("closed while the user typed:\n%s", out.String())
	default:
	}
	select {
	case <-ended:
	case <-time.After(20 * time.Second):
		t.Fatal("an idle dashboard stayed open")
	}
	if !strings.Contains(out.String(), "closed after 2s without input") || cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("exit %d; the end of its output: %q", cmd.ProcessState.ExitCode(), tail(out.String(), 300))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
