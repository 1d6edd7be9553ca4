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

// TestCLISessionRestart: tui session restart starts an agent's session
// again and says which one runs now; the old one is in history, cancelled.
func TestCLISessionRestart(t *testing.T) {
	addr := proctest.FreeAddr(t)
	startRelay(t, addr, filepath.Join(t.TempDir(), "sb.db"))
	start(t, "agent", "--relay", "ws://"+addr, "--name", "claude-box", "--state-dir", t.TempDir(), "--", "cat")
	start(t, "agent", "--relay", "ws://"+addr, "--name", "plain", "--state-dir", t.TempDir())

	sessions := func() []wire.Command {
		out, _, code := tui(t, addr, "history", "--agent", "claude-box", "--json")
		var cmds []wire.Command
		if code != 0 || json.Unmarshal([]byte(out), &cmds) != nil {
			return nil
		}
		return cmds
	}
	relaytest.Eventually(t, 15*time.Second, "the first session", func() bool {
		s := sessions()
		return len(s) == 1 && s[0].State == wire.StateRunning
	})
	first := sessions()[0]
	relaytest.Eventually(t, 15*time.Second, "agent plain", func() bool {
		out, _, code := tui(t, addr, "agents")
		return code == 0 && strings.Contains(out, "plain")
	})

	out, stderr, code := tui(t, addr, "session", "restart", "claude-box")
	if code != 0 || !strings.Contains(out, "claude-box: session s-") || !strings.Contains(out, "running: cat") {
		t.Fatalf("session restart: code %d, stdout %q, stderr %q", code, out, stderr)
	}
	all := sessions()
	if len(all) != 2 || all[1].ID != first.ID || all[1].State != wire.StateCanceled || all[0].State != wire.StateRunning {
		t.Fatalf("after a restart the agent's history is %+v; want the new session running and the old one cancelled", all)
	}
	if !strings.Contains(out, all[0].ID) {
		t.Errorf("restart printed %q, which does not name the new session %s", out, all[0].ID)
	}

	for _, tc := range []struct{ agent, words string }{
		{"plain", "runs no session program"},
		{"nobody", `no agent "nobody"`},
	} {
		_, stderr, code := tui(t, addr, "session", "restart", tc.agent)
		if code != 1 || !strings.Contains(stderr, tc.words) {
			t.Errorf("session restart %s: code %d, stderr %q; want 1 and %q", tc.agent, code, stderr, tc.words)
		}
	}
	if _, _, code := tui(t, addr, "session", "stop", "claude-box"); code != 2 {
		t.Errorf("session stop: code %d, want 2 (usage)", code)
	}
}
