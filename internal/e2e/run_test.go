package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/proctest"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// TestCLIRunSaysWhy: when a command ends without an exit status of its
// own, tui run says why on stderr beside the exit code that stands for
// it, and the history table shows the reason too.
func TestCLIRunSaysWhy(t *testing.T) {
	addr := proctest.FreeAddr(t)
	startRelay(t, addr, filepath.Join(t.TempDir(), "sb.db"))
	start(t, "agent", "--relay", "ws://"+addr, "--name", "box", "--state-dir", t.TempDir(), "--cancel-grace", "1s")
	relaytest.Eventually(t, 15*time.Second, "agent box", func() bool {
		out, _, code := tui(t, addr, "agents")
		return code == 0 && strings.Contains(out, "● idle")
	})

	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		words string
	}{
		{"no such program", []string{"--", "/nonexistent/prog"}, 127, "run: could not start on box: "},
		{"timed out", []string{"--timeout", "300ms", "--", "sleep", "10"}, 124, "run: timed out on box: timed out after 300ms"},
		{"killed", []string{"--", "sh", "-c", "kill -9 $$"}, 137, "run: killed by SIGKILL on box"},
		{"exit 3", []string{"--", "sh", "-c", "exit 3"}, 3, ""},
	} {
		_, stderr, code := tui(t, addr, append([]string{"run", "--agent", "box"}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.words) || (tc.words == "" && stderr != "") {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.name, code, stderr, tc.code, tc.words)
		}
	}

	// A run cancelled from elsewhere.
	type result struct {
		stderr string
		code   int
	}
	done := make(chan result, 1)
	go func() {
		_, stderr, code := tui(t, addr, "run", "--agent", "box", "--", "sleep", "60")
		done <- result{stderr, code}
	}()
	var id string
	relaytest.Eventually(t, 15*time.Second, "sleep running", func() bool {
		out, _, _ := tui(t, addr, "history", "--json", "--limit", "1")
		var cmds []wire.Command
		if json.Unmarshal([]byte(out), &cmds) != nil || len(cmds) == 0 || cmds[0].State != wire.StateRunning {
			return false
		}
		id = cmds[0].ID
		return true
	})
	if _, stderr, code := tui(t, addr, "cancel", id); code != 0 {
		t.Fatalf("cancel: exit %d, %s", code, stderr)
	}
	select {
	case r := <-done:
		if r.code != 130 || !strings.Contains(r.stderr, "run: cancelled on box: ") {
			t.Errorf("cancelled run: exit %d, stderr %q; want 130 and why", r.code, r.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the cancelled run did not end")
	}

	out, _, _ := tui(t, addr, "history")
	for _, want := range []string{"✗ rejected", "⏱ timed out", "timed out after 300ms", "✗ SIGKILL", "✗ exit 3", "⊘ cancelled", "WHY"} {
		if !strings.Contains(out, want) {
			t.Errorf("history table lacks %q:\n%s", want, out)
		}
	}
}

// TestCLIConnectionErrorsSayWhatToDo: a relay that wants a token gets the
// flags and variables that give one named, and an address that is no URL
// is refused before anything is dialled.
func TestCLIConnectionErrorsSayWhatToDo(t *testing.T) {
	addr := proctest.FreeAddr(t)
	startRelay(t, addr, filepath.Join(t.TempDir(), "sb.db"), "--secure")
	for _, args := range [][]string{{"agents"}, {"history"}} {
		_, stderr, code := tui(t, addr, args...)
		for _, want := range []string{"needs an access token", "--token-file", "SWITCHBOARD_TOKEN_FILE", "--token", "SWITCHBOARD_TOKEN"} {
			if code != 1 || !strings.Contains(stderr, want) {
				t.Errorf("tui %s without a token: exit %d, stderr %q; want 1 and %q", args[0], code, stderr, want)
			}
		}
	}
	for _, args := range [][]string{{"agents", "--relay", "http//foo"}, {"--relay", "http//foo"}} {
		_, stderr, code := tui(t, "", args...)
		if code == 0 || !strings.Contains(stderr, `relay address "http//foo" is not a relay URL`) {
			t.Errorf("tui %v: exit %d, stderr %q; want the address refused", args, code, stderr)
		}
	}
}
