package sshd_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"switchboard/internal/cli"
	"switchboard/internal/relaytest"
	"switchboard/internal/sshd"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// agentsOnline waits until the key's token sees the named agent online.
func (h *harness) agentsOnline(key, name string) {
	h.t.Helper()
	relaytest.EventuallyEvery(h.t, 100*time.Millisecond, 30*time.Second, name+" online over ssh", func() bool {
		out, _, code := h.ssh(key, "agents", "--json")
		var list []wire.Agent
		if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
			return false
		}
		for _, a := range list {
			if a.Name == name && a.Status != wire.AgentOffline {
				return true
			}
		}
		return false
	})
}

// TestExec: ssh HOST SUBCOMMAND runs the CLI as the key's token, with
// stdout and stderr apart, the remote command's exit code as its own, and
// the relay's records naming the token and the SSH client's address.
func TestExec(t *testing.T) {
	h := newHarness(t, sshd.Config{})
	h.agent("box")
	alice := h.user("alice", store.RoleOperator)
	h.agentsOnline(alice, "box")

	out, errs, code := h.ssh(alice, "run", "--agent", "box", "--", "sh", "-c", "'printf out-$((6*7)); exit 3'")
	if code != 3 || !strings.Contains(out, "out-42") || strings.Contains(errs, "out-42") {
		t.Fatalf("run exiting 3: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	out, _, code = h.ssh(alice, "run", "--agent", "box", "--", "echo", "fine")
	if code != 0 || !strings.Contains(out, "fine") {
		t.Fatalf("run exiting 0: exit %d, stdout %q", code, out)
	}
	out, errs, code = h.ssh(alice, "history", "--json", "--limit", "2")
	var cmds []wire.Command
	if code != 0 || json.Unmarshal([]byte(out), &cmds) != nil || len(cmds) != 2 {
		t.Fatalf("history: exit %d, %q, %q", code, out, errs)
	}
	if by := cmds[1].RequestedBy; !strings.HasPrefix(by, "alice (switchboard-ssh/test@127.0.0.1)") {
		t.Errorf("requested by %q: want the token and the SSH client's address", by)
	}
	if out, _, code = h.ssh(alice, "logs", cmds[1].ID); code != 0 || !strings.Contains(out, "out-42") {
		t.Errorf("logs: exit %d, %q", code, out)
	}

	for _, bad := range [][]string{{"nonsense"}, {"agents", "--token-file", "/etc/passwd"}, {"agents", "--relay", "ws://127.0.0.1:1"}} {
		if _, errs, code := h.ssh(alice, bad...); code != cli.ExitUsage || errs == "" {
			t.Errorf("ssh %v: exit %d, stderr %q; want a usage error", bad, code, errs)
		}
	}
	if out, _, code := h.ssh(alice, "help"); code != 0 || !strings.Contains(out, "history") || strings.Contains(out, "--token-file") {
		t.Errorf("help: exit %d:\n%s", code, out)
	}
	// Without a terminal there is no dashboard, and ssh says why.
	if _, errs, code := h.ssh(alice); code != 2 || !strings.Contains(errs, "needs a terminal") {
		t.Errorf("ssh with no command and no terminal: exit %d, %q", code, errs)
	}

	entries, err := h.db.Audit(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var sessions, connects int
	for _, e := range entries {
		switch {
		case e.Action == "ssh_session" && e.Token == "alice" && e.Remote == "127.0.0.1" && strings.Contains(e.Detail, "SHA256:"):
			sessions++
		case e.Action == "connect" && e.Token == "alice" && e.Remote == "127.0.0.1":
			connects++
		}
	}
	if sessions < 8 || connects < 5 {
		t.Errorf("audit: %d ssh sessions and %d relay connects of alice from 127.0.0.1; want every one", sessions, connects)
	}
}

// TestRoles: a viewer's key watches but may not run; its token's role
// applies over SSH exactly as elsewhere.
func TestRoles(t *testing.T) {
	h := newHarness(t, sshd.Config{})
	h.agent("box")
	bob := h.user("bob", store.RoleViewer)
	h.agentsOnline(bob, "box")
	_, errs, code := h.ssh(bob, "run", "--agent", "box", "--", "true")
	if code == 0 || !strings.Contains(errs, "may not run commands") {
		t.Errorf("a viewer's run: exit %d, %q", code, errs)
	}
	if _, errs, code := h.ssh(bob, "audit"); code == 0 || !strings.Contains(errs, "audit") {
		t.Errorf("a viewer's audit: exit %d, %q", code, errs)
	}
}

// TestInterrupt: ^C typed into a terminal (ssh -t), or an SSH signal
// request, cancels what run started, as ^C does to the local tui run.
func TestInterrupt(t *testing.T) {
	h := newHarness(t, sshd.Config{})
	h.agent("box")
	alice := h.user("alice", store.RoleOperator)
	h.agentsOnline(alice, "box")
	c := h.dial(alice)
	for _, how := range []string{"^C in a terminal", "SIGINT request"} {
		t.Run(how, func(t *testing.T) {
			sess, err := c.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			stdin, err := sess.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			var out syncBuffer
			sess.Stdout, sess.Stderr = &out, &out
			if how == "^C in a terminal" {
				if err := sess.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := sess.Start("run --agent box -- sh -c 'echo started; sleep 60'"); err != nil {
				t.Fatal(err)
			}
			relaytest.Eventually(t, 30*time.Second, "the command to start", func() bool { return strings.Contains(out.String(), "started") })
			if how == "^C in a terminal" {
				_, err = stdin.Write([]byte{0x03})
			} else {
				err = sess.Signal(gossh.SIGINT)
			}
			if err != nil {
				t.Fatal(err)
			}
			var exit *gossh.ExitError
			if err := sess.Wait(); !errors.As(err, &exit) || exit.ExitStatus() != cli.ExitCanceled {
				t.Fatalf("run after %s: %v; output %q", how, err, out.String())
			}
			hist, _, _ := h.ssh(alice, "history", "--limit", "1")
			if !strings.Contains(hist, "cancelled") {
				t.Errorf("the command was not cancelled:\n%s", hist)
			}
		})
	}
}
