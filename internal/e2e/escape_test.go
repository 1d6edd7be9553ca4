package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/proctest"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// TestCLIEscapesTerminalControls: an agent named to drive the reader's
// terminal (OSC 52 sets the clipboard, OSC 0 the window title), with such
// labels and running such a command line, prints as harmless text in
// every table of tui agents, history and audit and of relay agent list;
// --json keeps the exact bytes. Then relay agent forget removes it.
func TestCLIEscapesTerminalControls(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "sb.db")
	admin := createToken(t, db, "admin", "admin")
	evilToken := createToken(t, db, "agent", "evil-agent")
	addr := proctest.FreeAddr(t)
	startRelay(t, addr, db, "--secure")

	name := "x\x1b]52;c;cHduZWQ=\a\x1b]0;owned\x1b\\"
	label := "\x1b[2J\u009b31m" // ED, and the one-character CSI (C1)
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+wire.AgentPath, http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	hello := &wire.Hello{Protocol: wire.ProtocolVersion, Token: evilToken,
		Agent: &wire.AgentInfo{ID: "a-evil", Name: name, Labels: wire.Strings{"pool": label}, MaxConcurrent: 1}}
	if err := ws.WriteMessage(websocket.TextMessage, wire.MustEncode(hello)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.ReadMessage(); err != nil { // welcome
		t.Fatal(err)
	}
	// A command whose line carries escapes too, and the agent's refusal
	// of it, which puts them in the audit trail.
	go func() {
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if m, err := wire.Decode(data); err == nil {
				if s, ok := m.(*wire.Start); ok {
					_ = ws.WriteMessage(websocket.TextMessage, wire.MustEncode(&wire.Exited{CommandID: s.Command.ID,
						State: wire.StateRejected, Reason: "no \x1b]52;c;eA==\a thanks", EndedAt: time.Now()}))
				}
			}
		}
	}()
	env := []string{"SWITCHBOARD_RELAY=ws://" + addr, "SWITCHBOARD_TOKEN=" + admin}
	run := func(args ...string) (string, int) {
		t.Helper()
		out, stderr, code := tuiEnv(t, env, args...)
		if strings.ContainsAny(out+stderr, "\x1b\a\u009b") {
			t.Errorf("tui %v printed terminal controls:\n%q", args, out+stderr)
		}
		return out + stderr, code
	}
	if out, code := run("run", "--agent", "a-evil", "--", "echo", "\x1b]0;title\a"); code != 127 {
		t.Errorf("run: code %d, output %q; want 127 (rejected)", code, out)
	}
	out, _ := run("agents")
	if !strings.Contains(out, `x\x1b]52;c;cHduZWQ=\x07\x1b]0;owned\x1b\`) || !strings.Contains(out, `pool=\x1b[2J\x9b31m`) {
		t.Errorf("agents:\n%s", out)
	}
	if out, _ := run("history"); !strings.Contains(out, `echo "\x1b]0;title\x07"`) && !strings.Contains(out, `\x1b]0;title\x07`) {
		t.Errorf("history:\n%s", out)
	}
	relaytest.Eventually(t, 10*time.Second, "the rejection in the audit trail", func() bool {
		out, _ := run("audit")
		return strings.Contains(out, `no \x1b]52;c;eA==\x07 thanks`)
	})
	out, _ = run("agents", "--json")
	var list []wire.Agent
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].Name != name || list[0].Labels["pool"] != label {
		t.Errorf("agents --json does not keep the exact name and labels: %v\n%s", err, out)
	}

	// relay agent forget: refused while the agent is connected, done once
	// it is gone.
	relayAgent := func(args ...string) (string, error) {
		t.Helper()
		stdout, stderr, err := relayCmdEnv(t, dir, env, append([]string{"agent"}, args...)...)
		if strings.ContainsAny(stdout+stderr, "\x1b\a\u009b") {
			t.Errorf("relay agent %v printed terminal controls: %q", args, stdout+stderr)
		}
		return stdout + stderr, err
	}
	if out, err := relayAgent("list"); err != nil || !strings.Contains(out, "a-evil") {
		t.Errorf("relay agent list: %v\n%s", err, out)
	}
	if out, err := relayAgent("forget", "a-evil"); err == nil || !strings.Contains(out, "is connected") {
		t.Errorf("forgetting a connected agent: %v\n%s", err, out)
	}
	ws.Close()
	relaytest.Eventually(t, 20*time.Second, "the agent forgotten", func() bool {
		out, err := relayAgent("forget", "a-evil")
		return err == nil && strings.Contains(out, "forgot")
	})
	if out, _ := relayAgent("list"); strings.Contains(out, "a-evil") {
		t.Errorf("relay agent list after forget:\n%s", out)
	}
}
