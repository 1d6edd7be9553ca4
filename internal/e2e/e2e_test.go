package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/proctest"
	"switchboard/internal/relaytest"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/wire"
)

// TestCLI drives the scriptable client against the real relay and agent.
func TestCLI(t *testing.T) {
	addr := proctest.FreeAddr(t)
	startRelay(t, addr, filepath.Join(t.TempDir(), "sb.db"))
	start(t, "agent", "--relay", "ws://"+addr, "--name", "cli-box", "--label", "pool=ci", "--state-dir", t.TempDir())
	start(t, "agent", "--relay", "ws://"+addr, "--name", "cli-two", "--label", "pool=ci", "--state-dir", t.TempDir())

	agents := waitIdleAgents(t, addr, 2)
	if agents[0].Name != "cli-box" || agents[0].Labels["pool"] != "ci" {
		t.Errorf("agents --json: %+v", agents)
	}
	out, _, _ := tui(t, addr, "agents")
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "cli-two") || !strings.Contains(out, "idle") {
		t.Errorf("agents table:\n%s", out)
	}

	out, stderr, code := tui(t, addr, "run", "--agent", "cli-box", "--", "sh", "-c", "echo out; exit 3")
	if code != 3 || out != "out\r\n" {
		t.Errorf("run exit 3: code %d, stdout %q, stderr %q", code, out, stderr)
	}
	out, _, code = tui(t, addr, "run", "--label", "pool=ci", "--", "echo", "hi")
	if code != 0 || !strings.Contains(out, "cli-box | hi\n") || !strings.Contains(out, "cli-two | hi\n") {
		t.Errorf("run on label: code %d, stdout %q", code, out)
	}
	_, _, code = tui(t, addr, "run", "--agent", "cli-box", "--timeout", "200ms", "--", "sleep", "10")
	if code != 124 {
		t.Errorf("run with timeout: code %d, want 124", code)
	}
	_, stderr, code = tui(t, addr, "run", "--agent", "nobody", "--", "true")
	if code == 0 || !strings.Contains(stderr, "no known agent") {
		t.Errorf("run on unknown agent: code %d, stderr %q", code, stderr)
	}
	_, _, code = tui(t, addr, "run", "--", "true")
	if code != 2 {
		t.Errorf("run without target: code %d, want 2", code)
	}

	out, _, code = tui(t, addr, "history", "--agent", "cli-box", "--json")
	var hist []wire.Command
	if code != 0 || json.Unmarshal([]byte(out), &hist) != nil || len(hist) != 3 {
		t.Fatalf("history --json: code %d, %d commands: %s", code, len(hist), out)
	}
	if hist[2].CommandSpec.Argv[2] != "echo out; exit 3" || *hist[2].ExitCode != 3 {
		t.Errorf("oldest history entry: %+v", hist[2])
	}
	out, _, code = tui(t, addr, "logs", hist[2].ID)
	if code != 0 || out != "out\r\n" {
		t.Errorf("logs: code %d, %q", code, out)
	}
	out, _, code = tui(t, addr, "history")
	if code != 0 || !strings.Contains(out, "⏱ timed out") || !strings.Contains(out, "✗ exit 3") || !strings.Contains(out, hist[2].ID) {
		t.Errorf("history table:\n%s", out)
	}

	// cancel of a running command, from another process.
	cl, err := client.Dial(context.Background(), client.Config{Relay: "ws://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cmds, err := cl.Run(context.Background(), wire.Targets{Agents: []string{"cli-two"}}, wire.CommandSpec{Argv: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	relaytest.Eventually(t, 10*time.Second, "sleep running", func() bool { return cl.State().Commands[cmds[0].ID].State == wire.StateRunning })
	out, stderr, code = tui(t, addr, "cancel", cmds[0].ID)
	if code != 0 || !strings.Contains(out, "cancelled") {
		t.Errorf("cancel: code %d, %q %q", code, out, stderr)
	}
}

// TestRelayKill9MidCommand kills the relay with SIGKILL while a command
// streams, restarts it, and checks that the command finishes and its
// output, in SQLite and at a dashboard that follows it, is exactly what
// the program wrote.
func TestRelayKill9MidCommand(t *testing.T) {
	addr := proctest.FreeAddr(t)
	db := filepath.Join(t.TempDir(), "sb.db")
	relay := startRelay(t, addr, db)
	start(t, "agent", "--relay", "ws://"+addr, "--name", "worker", "--state-dir", t.TempDir())

	cl, err := client.Dial(context.Background(), client.Config{Relay: "ws://" + addr, Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitIdle(t, cl, "worker")
	id, want := followLines(t, cl, "worker", 400)
	var got bytes.Buffer
	ended := false
	collect := func(until func() bool, timeout time.Duration) {
		t.Helper()
		deadline := time.After(timeout)
		for !until() {
			select {
			case ev := <-cl.Events():
				switch ev := ev.(type) {
				case client.Output:
					if ev.Offset != int64(got.Len()) {
						t.Fatalf("output at offset %d, have %d", ev.Offset, got.Len())
					}
					got.Write(ev.Data)
				case client.OutputEnd:
					ended = ev.CommandID == id
				}
			case <-deadline:
				t.Fatalf("timed out; have %d bytes:\n%s", got.Len(), got.String())
			}
		}
	}
	collect(func() bool { return bytes.Contains(got.Bytes(), []byte("line 50\r\n")) }, 20*time.Second)
	relay.Stop(syscall.SIGKILL)
	time.Sleep(300 * time.Millisecond) // the command keeps producing while the relay is down
	relay = startRelay(t, addr, db)
	collect(func() bool { return ended }, 60*time.Second)

	if got.String() != want {
		t.Fatalf("dashboard output differs: got %d bytes, want %d", got.Len(), len(want))
	}
	relaytest.Eventually(t, 10*time.Second, "final state", func() bool { return cl.State().Commands[id].State == wire.StateExited })
	relay.Stop(syscall.SIGTERM)

	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored, _, err := st.ReadOutput(context.Background(), id, 0, 1<<20)
	if err != nil || string(stored) != want {
		t.Fatalf("stored output: %d bytes, err %v; want %d bytes", len(stored), err, len(want))
	}
}

// TestAgentKilledCommandsLost kills an agent with SIGKILL mid-command: the
// relay shows it offline at once (its socket closes) and, since it does not
// come back within --lost-after, marks the command lost. A new agent
// process with the same id then takes new work.
func TestAgentKilledCommandsLost(t *testing.T) {
	addr := proctest.FreeAddr(t)
	startRelay(t, addr, filepath.Join(t.TempDir(), "sb.db"), "--lost-after", "1s")
	stateDir := t.TempDir()
	ag := start(t, "agent", "--relay", "ws://"+addr, "--name", "doomed", "--state-dir", stateDir)
	cl, err := client.Dial(context.Background(), client.Config{Relay: "ws://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	status := func() wire.AgentStatus {
		for _, a := range cl.State().Agents {
			if a.Name == "doomed" {
				return a.Status
			}
		}
		return ""
	}
	relaytest.Eventually(t, 15*time.Second, "agent idle", func() bool { return status() == wire.AgentIdle })
	cmds, err := cl.Run(context.Background(), wire.Targets{Agents: []string{"doomed"}}, wire.CommandSpec{Argv: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	relaytest.Eventually(t, 10*time.Second, "running", func() bool { return cl.State().Commands[cmds[0].ID].State == wire.StateRunning })
	ag.Stop(syscall.SIGKILL)
	relaytest.Eventually(t, 5*time.Second, "agent offline", func() bool { return status() == wire.AgentOffline })
	relaytest.Eventually(t, 10*time.Second, "command lost", func() bool { return cl.State().Commands[cmds[0].ID].State == wire.StateLost })
	if c := cl.State().Commands[cmds[0].ID]; !strings.Contains(c.Reason, "offline") {
		t.Errorf("lost reason %q", c.Reason)
	}
	// The agent restarts (same state dir, so same id) and runs new work.
	start(t, "agent", "--relay", "ws://"+addr, "--name", "doomed", "--state-dir", stateDir)
	relaytest.Eventually(t, 15*time.Second, "agent back", func() bool { return status() == wire.AgentIdle })
	if n := len(cl.State().Agents); n != 1 {
		t.Errorf("%d agents after restart, want 1 (stable id)", n)
	}
}
