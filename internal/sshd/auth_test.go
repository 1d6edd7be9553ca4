package sshd_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"switchboard/internal/relaytest"
	"switchboard/internal/sshd"
	"switchboard/internal/store"
)

// TestRefusedKeys: a key bound to no valid dashboard token is refused with
// a banner that says what to do (its fingerprint, relay token add-key and
// the key); so are an agent token's (none can be bound) and a revoked
// token's; no password or keyboard-interactive login is offered.
func TestRefusedKeys(t *testing.T) {
	h := newHarness(t, sshd.Config{})
	stranger, strangerPub := h.newKey("stranger")
	gone := h.user("gone", store.RoleOperator)
	if err := h.admin.Revoke(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]string{"unknown key": stranger, "revoked token": gone} {
		args := h.sshArgs(key, "agents")
		args = append([]string{"-o", "LogLevel=INFO"}, args...) // the first value given wins: show the banner
		out, err := exec.Command("ssh", args...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 255 {
			t.Errorf("%s: %v, want ssh's exit 255", name, err)
		}
		if !bytes.Contains(out, []byte("Permission denied (publickey)")) || !bytes.Contains(out, []byte("relay token add-key NAME")) ||
			!bytes.Contains(out, []byte("may not log in here")) {
			t.Errorf("%s: no clear refusal:\n%s", name, out)
		}
	}
	out, _ := exec.Command("ssh", append([]string{"-o", "LogLevel=INFO"}, h.sshArgs(stranger, "agents")...)...).CombinedOutput()
	if !bytes.Contains(out, []byte(strings.Fields(strangerPub)[1])) {
		t.Errorf("the banner does not show the key to bind:\n%s", out)
	}
	// Only publickey is offered: a client that insists on passwords gets
	// no prompt, only the list of methods.
	args := append([]string{"-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "PubkeyAuthentication=no"}, h.sshArgs(stranger, "agents")...)
	out, err := exec.Command("ssh", args...).CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("Permission denied (publickey)")) {
		t.Errorf("password login: %v\n%s", err, out)
	}
}

// TestRevokeEndsLiveSession: revoking the token, or removing the key from
// it, ends a live SSH session within a second, saying why.
func TestRevokeEndsLiveSession(t *testing.T) {
	h := newHarness(t, sshd.Config{})
	h.agent("box")
	for _, how := range []string{"revoke the token", "remove the key"} {
		t.Run(how, func(t *testing.T) {
			name := strings.ReplaceAll(how, " ", "-")
			key, pub := h.newKey(name)
			if _, err := h.admin.Create(context.Background(), tokenSpec(name, pub)); err != nil {
				t.Fatal(err)
			}
			h.agentsOnline(key, "box")
			cmd := exec.Command("ssh", h.sshArgs(key, "run", "--agent", "box", "--", "sh", "-c", "'echo started; sleep 60'")...)
			var out, errb syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			ended := make(chan error, 1)
			go func() { ended <- cmd.Wait() }()
			relaytest.Eventually(t, 30*time.Second, "the command's output", func() bool { return strings.Contains(out.String(), "started") })
			var err error
			if how == "revoke the token" {
				err = h.admin.Revoke(context.Background(), name)
			} else {
				err = h.admin.RemoveSSHKey(context.Background(), name, pub)
			}
			if err != nil {
				t.Fatal(err)
			}
			changed := time.Now()
			select {
			case <-ended:
				if took := time.Since(changed); took > time.Second {
					t.Errorf("the session ended %s after the change, want within a second", took)
				}
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatal("the session outlived the change")
			}
			want := map[string]string{"revoke the token": "token revoke-the-token was revoked", "remove the key": "was removed from token remove-the-key"}[how]
			if !strings.Contains(errb.String(), want) || cmd.ProcessState.ExitCode() != 1 {
				t.Errorf("exit %d, stderr %q; want exit 1 and %q", cmd.ProcessState.ExitCode(), errb.String(), want)
			}
			if _, errs, code := h.ssh(key, "agents"); code != 255 {
				t.Errorf("logging in again: exit %d, %q", code, errs)
			}
		})
	}
}

// TestSessionsPerKey: a key has at most SessionsPerKey sessions (and
// connections) open at once; one more is refused saying so, and a place
// frees when a session ends.
func TestSessionsPerKey(t *testing.T) {
	h := newHarness(t, sshd.Config{SessionsPerKey: 2})
	h.agent("box")
	alice := h.user("alice", store.RoleOperator)
	h.agentsOnline(alice, "box")
	var waits []*exec.Cmd
	for range 2 {
		cmd := exec.Command("ssh", h.sshArgs(alice, "wait", "--agent", "box", "--for", "offline")...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waits = append(waits, cmd)
	}
	defer func() {
		for _, c := range waits {
			c.Process.Kill()
			c.Wait()
		}
	}()
	relaytest.Eventually(t, 20*time.Second, "two sessions", func() bool { return h.srv.Sessions() == 2 })
	out, err := exec.Command("ssh", append([]string{"-o", "LogLevel=INFO"}, h.sshArgs(alice, "agents")...)...).CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("has 2 connections open, the limit")) {
		t.Errorf("a third session: %v, %q", err, out)
	}
	waits[0].Process.Kill()
	waits[0].Wait()
	relaytest.Eventually(t, 20*time.Second, "a place to free", func() bool {
		_, _, code := h.ssh(alice, "agents")
		return code == 0
	})
}
