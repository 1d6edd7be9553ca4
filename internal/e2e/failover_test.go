package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/pgtest"
	"switchboard/internal/proctest"
	"switchboard/internal/relaytest"
	"switchboard/internal/store/postgres"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/wire"
)

// TestFailover runs two relay binaries on one store, one serving and the
// other its standby (--standby: running, waiting for the store's serving
// lock), an agent and dashboards given both (the tui program full-screen
// in tmux, tui run streaming to a file, and a client), and a command that
// writes numbered lines, each also to a file of its own. Mid-stream the
// serving relay is killed with SIGKILL and the standby takes over; the
// first one rejoins as the standby, and later the second is killed too. The command never stops (its PTY is the
// agent's), the agent and the dashboards move by themselves, the tui
// program says where it is, and at the end what tui run printed, what the
// client received and what the store holds are each, SHA-256 equal, the
// bytes the command wrote: nothing lost, nothing twice. The history and
// logs read through either relay are complete.
func TestFailover(t *testing.T) {
	t.Run("postgres", func(t *testing.T) { testFailover(t, pgtest.URL(t)) })
	// Two relays on one SQLite file in turn: a standby on the same host.
	t.Run("sqlite", func(t *testing.T) { testFailover(t, filepath.Join(t.TempDir(), "sb.db")) })
}

func testFailover(t *testing.T, store string) {
	addrA, addrB := proctest.FreeAddr(t), proctest.FreeAddr(t)
	relays := "ws://" + addrA + ",ws://" + addrB
	relayA := startRelay(t, addrA, store)
	relayB := startStandby(t, addrB, store)
	agent := start(t, "agent", "--relay", relays, "--name", "fo-worker", "--state-dir", t.TempDir())

	cl, err := client.Dial(context.Background(), client.Config{Relay: "ws://" + addrA, Relays: []string{"ws://" + addrB}, Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitIdle(t, cl, "fo-worker")
	scr := proctest.StartTmux(t, 140, 30, fmt.Sprintf("%s --relay %s --log-file %s",
		filepath.Join(bin, "tui"), relays, filepath.Join(t.TempDir(), "tui.log")))
	scr.WaitText("fo-worker", "● connected to "+addrA)

	dir := t.TempDir()
	wrote, stop := filepath.Join(dir, "wrote"), filepath.Join(dir, "stop")
	script := fmt.Sprintf(`i=1; while [ $i -le 200 ] || [ ! -e %s ]; do echo "line $i" >> %s; echo "line $i"; i=$((i+1)); sleep 0.005; done`, stop, wrote)
	run := startTUI(t, "run", "--relay", relays, "--agent", "fo-worker", "--shell", "--", script)
	id := commandOf(t, cl, "fo-worker")
	logs := startTUI(t, "logs", "--follow", "--relay", relays, id)
	relaytest.Eventually(t, 20*time.Second, "the agent working", func() bool {
		for _, a := range cl.State().Agents {
			if a.Name == "fo-worker" && a.Attention == wire.AttentionWorking {
				return true
			}
		}
		return false
	})
	wait := startTUI(t, "wait", "--relay", relays, "--agent", "fo-worker", "--for", "idle")
	if err := cl.Subscribe(id, 0); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	follow(t, cl, id, &got, "line 100\r\n")

	relaytest.Eventually(t, 20*time.Second, "the standby waiting", func() bool {
		return strings.Contains(relayB.LogText(), "standby: another relay serves this store")
	})
	if _, err := http.Get("http://" + addrB + "/healthz"); err == nil || !relayB.Alive() {
		t.Fatalf("the standby serves, or is gone, while the first relay serves:\n%s", relayB.LogText())
	}
	killed := time.Now()
	relayA.Stop(syscall.SIGKILL)
	waitServing(t, relayB, addrB)
	served := time.Since(killed)
	mark := lineCount(t, wrote) + 100 // printed after the kill: through B
	moved, resumed := followMove(t, cl, id, &got, fmt.Sprintf("line %d\r\n", mark), killed)
	t.Logf("measured: after the kill, the standby served in %s; the client was on it in %s and had the next output in %s",
		ms(served), ms(moved), ms(resumed))
	scr.WaitText("● connected to " + addrB)
	if !strings.Contains(cl.Relay(), addrB) {
		t.Fatalf("the client is on %q, want %s", cl.Relay(), addrB)
	}
	relaytest.Eventually(t, 10*time.Second, "the agent on the second relay", func() bool {
		return strings.Contains(agent.LogText(), `msg="connected to the relay" agent=fo-worker url=ws://`+addrB)
	})

	relayA = startStandby(t, addrA, store) // the first rejoins, as the standby
	relaytest.Eventually(t, 20*time.Second, "the standby waiting", func() bool {
		return strings.Contains(relayA.LogText(), "standby: another relay serves this store")
	})
	killed = time.Now()
	relayB.Stop(syscall.SIGKILL)
	waitServing(t, relayA, addrA) // and takes over from the store
	served = time.Since(killed)
	mark = lineCount(t, wrote) + 100
	moved, resumed = followMove(t, cl, id, &got, fmt.Sprintf("line %d\r\n", mark), killed)
	t.Logf("measured: after the second kill, the first relay served again in %s; the client was on it in %s and had the next output in %s",
		ms(served), ms(moved), ms(resumed))
	scr.WaitText("● connected to " + addrA)
	for _, p := range []tuiProc{logs, wait} {
		if !p.Alive() {
			t.Fatalf("%s ended before the command: exit %d, stderr:\n%s", p.args, p.ExitCode(), readFile(t, p.stderr))
		}
	}
	if err := os.WriteFile(stop, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	follow(t, cl, id, &got, "")

	want := strings.ReplaceAll(readFile(t, wrote), "\n", "\r\n")
	if !run.Exits(60 * time.Second) {
		t.Fatal("tui run did not end with the command")
	}
	if !logs.Exits(60*time.Second) || !wait.Exits(60*time.Second) {
		t.Fatal("tui logs --follow or tui wait did not end with the command")
	}
	stdout := readFile(t, run.stdout)
	for what, have := range map[string]string{"tui run": stdout, "tui logs --follow": readFile(t, logs.stdout),
		"the client": got.String(), "the store": storedOutput(t, store, id, len(want))} {
		if sha256.Sum256([]byte(have)) != sha256.Sum256([]byte(want)) {
			t.Errorf("%s has %d bytes, not the %d the command wrote", what, len(have), len(want))
		}
	}
	for _, p := range []tuiProc{run, logs, wait} {
		stderr := readFile(t, p.stderr)
		if p.ExitCode() != 0 || strings.Count(stderr, p.args[0]+": moved to the relay") != 2 {
			t.Errorf("tui %s: exit %d, stderr:\n%s", p.args[0], p.ExitCode(), stderr)
		}
	}
	if out := readFile(t, wait.stdout); !strings.HasPrefix(out, "fo-worker idle") {
		t.Errorf("tui wait printed %q", out)
	}
	// Read back through the relays named down first, then up.
	out, stderrH, code := tui(t, "", "history", "--json", "--relay", "ws://"+addrB+",ws://"+addrA)
	var hist []wire.Command
	if code != 0 || json.Unmarshal([]byte(out), &hist) != nil || len(hist) != 1 || hist[0].ID != id ||
		hist[0].State != wire.StateExited || hist[0].OutputBytes != int64(len(want)) {
		t.Fatalf("history: code %d, %s %s", code, out, stderrH)
	}
	if out, stderrL, code := tui(t, "", "logs", "--relay", "ws://"+addrB+",ws://"+addrA, id); code != 0 || out != want {
		t.Fatalf("logs: code %d, %d bytes (want %d), %s", code, len(out), len(want), stderrL)
	}
}

// startStandby runs the relay binary with --standby on store: it waits
// for the store's serving lock and does not listen meanwhile.
func startStandby(t *testing.T, addr, store string) *proc {
	t.Helper()
	return start(t, "relay", "--addr", addr, "--store", store, "--log-level", "info", "--insecure-no-auth", "--standby")
}

// waitServing waits until the relay p (a standby) serves at addr.
func waitServing(t *testing.T, p *proc, addr string) {
	t.Helper()
	relaytest.EventuallyEvery(t, 5*time.Millisecond, 30*time.Second, "the standby serving", func() bool {
		if !p.Alive() {
			t.Fatalf("the standby exited:\n%s", p.LogText())
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// followMove is follow across a move to another relay: it reports how
// long after start the client was connected to the other relay, and had
// the first output from it.
func followMove(t *testing.T, cl *client.Client, id string, got *bytes.Buffer, until string, start time.Time) (moved, resumed time.Duration) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for moved == 0 || resumed == 0 || !strings.Contains(got.String(), until) {
		select {
		case ev := <-cl.Events():
			switch ev := ev.(type) {
			case client.ConnState:
				if ev.State == client.Connected && ev.From != "" {
					moved = time.Since(start)
				}
			case client.Output:
				if ev.CommandID != id {
					continue
				}
				if ev.Offset != int64(got.Len()) {
					t.Fatalf("output at offset %d, have %d", ev.Offset, got.Len())
				}
				got.Write(ev.Data)
				if moved != 0 && resumed == 0 {
					resumed = time.Since(start)
				}
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %q and a move; have %d bytes, moved after %s", until, got.Len(), moved)
		}
	}
	return moved, resumed
}

// tuiProc is a tui subcommand's process whose stdout and stderr go to
// files.
type tuiProc struct {
	*proc
	args           []string
	stdout, stderr string
}

// startTUI starts the tui program with args (a subcommand and its
// flags), its output kept apart from its complaints.
func startTUI(t *testing.T, args ...string) tuiProc {
	t.Helper()
	dir := t.TempDir()
	r := tuiProc{args: args, stdout: filepath.Join(dir, "stdout"), stderr: filepath.Join(dir, "stderr")}
	script := fmt.Sprintf(`exec "$0" "$@" >%s 2>%s`, r.stdout, r.stderr)
	r.proc = proctest.Start(t, "/bin", "sh", nil, append([]string{"-c", script, filepath.Join(bin, "tui")}, args...)...)
	return r
}

// commandOf waits for the one command of the agent named name.
func commandOf(t *testing.T, cl *client.Client, name string) string {
	t.Helper()
	var id string
	relaytest.Eventually(t, 20*time.Second, "the command on "+name, func() bool {
		for _, c := range cl.State().Commands {
			if c.AgentName == name && !c.Session {
				id = c.ID
				return true
			}
		}
		return false
	})
	return id
}

func lineCount(t *testing.T, path string) int {
	t.Helper()
	return strings.Count(readFile(t, path), "\n")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// storedOutput reads a command's output from the store (a PostgreSQL URL
// or a SQLite file), waiting up to 20 s for n bytes to be stored.
func storedOutput(t *testing.T, at, id string, n int) string {
	t.Helper()
	ctx := context.Background()
	var read func() ([]byte, error)
	if strings.HasPrefix(at, "postgres") {
		st, err := postgres.Open(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		read = func() ([]byte, error) { b, _, err := st.ReadOutput(ctx, id, 0, 1<<22); return b, err }
	} else {
		st, err := sqlite.Open(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		read = func() ([]byte, error) { b, _, err := st.ReadOutput(ctx, id, 0, 1<<22); return b, err }
	}
	var out []byte
	for deadline := time.Now().Add(20 * time.Second); len(out) < n && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, err := read()
		if err != nil {
			t.Fatal(err)
		}
		out = b
	}
	return string(out)
}

// TestSecondRelayRefused: a relay started on a store another relay
// serves refuses to start, saying why, instead of serving it beside the
// first (it would mark the first one's running commands lost after
// --lost-after, their agent not being its own). The first one's command
// runs on, untouched.
func TestSecondRelayRefused(t *testing.T) {
	for name, store := range map[string]string{"postgres": pgtest.URL(t), "sqlite": filepath.Join(t.TempDir(), "sb.db")} {
		t.Run(name, func(t *testing.T) {
			addr := proctest.FreeAddr(t)
			startRelay(t, addr, store)
			start(t, "agent", "--relay", "ws://"+addr, "--name", "held", "--state-dir", t.TempDir())
			cl, err := client.Dial(context.Background(), client.Config{Relay: "ws://" + addr})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			waitIdle(t, cl, "held")
			cmds, err := cl.Run(context.Background(), wire.Targets{Agents: []string{"held"}}, wire.CommandSpec{Argv: []string{"sleep", "60"}})
			if err != nil {
				t.Fatal(err)
			}
			second := start(t, "relay", "--addr", proctest.FreeAddr(t), "--store", store, "--insecure-no-auth", "--lost-after", "1s")
			if !second.Exits(30 * time.Second) {
				t.Fatal("the second relay is still running")
			}
			if log := second.LogText(); second.ExitCode() == 0 || !strings.Contains(log, "another relay is serving this store") {
				t.Fatalf("the second relay exited %d:\n%s", second.ExitCode(), log)
			}
			if c := cl.State().Commands[cmds[0].ID]; c.State != wire.StateRunning {
				t.Fatalf("the first relay's command is %s", c.State)
			}
		})
	}
}
