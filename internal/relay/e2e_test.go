package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/agent"
	"switchboard/internal/client"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/store"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/wire"
)

const waitLong = 20 * time.Second

// runningAgent is a real agent running in this process.
type runningAgent struct {
	*agent.Agent
	Stop func() // stops it and waits; safe to call twice
}

// startAgent runs a real agent against r until the test ends.
func startAgent(t *testing.T, r *relaytest.Relay, name string, mod func(*agent.Config)) *runningAgent {
	t.Helper()
	cfg := agent.Config{RelayURL: r.URL(), Name: name, StateDir: t.TempDir(), CancelGrace: time.Second,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))}
	if mod != nil {
		mod(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return &runningAgent{Agent: a, Stop: stop}
}

// watcher is a dashboard that records everything it receives.
type watcher struct {
	t  *testing.T
	cl *client.Client

	mu     sync.Mutex
	events []string          // "agent <id> <status>" / "command <id> <state>", in arrival order
	output relaytest.Outputs // command id -> bytes received
	ended  map[string]bool
	errors []string
}

func watch(t *testing.T, r *relaytest.Relay) *watcher {
	t.Helper()
	return watchAs(t, r, "")
}

// watchAs is watch with a token.
func watchAs(t *testing.T, r *relaytest.Relay, token string) *watcher {
	t.Helper()
	cl, err := client.Dial(context.Background(), client.Config{Relay: r.URL(), Client: "test", Reconnect: true, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t, cl: cl, output: relaytest.Outputs{}, ended: map[string]bool{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range cl.Events() {
			w.record(ev)
		}
	}()
	t.Cleanup(func() { cl.Close(); <-done })
	return w
}

func (w *watcher) record(ev any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch ev := ev.(type) {
	case client.AgentChanged:
		w.events = append(w.events, fmt.Sprintf("agent %s %s %d", ev.Agent.ID, ev.Agent.Status, ev.Agent.Running))
	case client.CommandChanged:
		w.events = append(w.events, fmt.Sprintf("command %s %s", ev.Command.ID, ev.Command.State))
	case client.Output:
		if err := w.output.Add(ev); err != nil {
			w.errors = append(w.errors, err.Error())
		}
	case client.OutputEnd:
		w.ended[ev.CommandID] = true
	case client.ServerError:
		w.errors = append(w.errors, ev.Code+": "+ev.Message)
	}
}

func (w *watcher) out(id string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.output.Bytes(id))
}

func (w *watcher) hasEnded(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ended[id]
}

func (w *watcher) eventLog() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.events)
}

func (w *watcher) command(id string) wire.Command { return w.cl.State().Commands[id] }

func (w *watcher) agentStatus(name string) wire.AgentStatus {
	for _, a := range w.cl.State().Agents {
		if a.Name == name {
			return a.Status
		}
	}
	return ""
}

func (w *watcher) waitAgent(name string, status wire.AgentStatus) {
	w.t.Helper()
	relaytest.Eventually(w.t, waitLong, fmt.Sprintf("agent %s %s", name, status), func() bool { return w.agentStatus(name) == status })
}

// run starts a command and subscribes to it.
func (w *watcher) run(targets wire.Targets, spec wire.CommandSpec) []wire.Command {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmds, err := w.cl.Run(ctx, targets, spec)
	if err != nil {
		w.t.Fatalf("run: %v", err)
	}
	for _, c := range cmds {
		if err := w.cl.Subscribe(c.ID, 0); err != nil {
			w.t.Fatal(err)
		}
	}
	return cmds
}

func (w *watcher) waitEnd(id string) wire.Command {
	w.t.Helper()
	relaytest.Eventually(w.t, waitLong, "command "+id+" to end", func() bool { return w.hasEnded(id) })
	relaytest.Eventually(w.t, waitLong, "command "+id+" final state", func() bool { return w.command(id).State.Final() })
	return w.command(id)
}

func (w *watcher) noErrors() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errors) > 0 {
		w.t.Errorf("dashboard saw errors: %v", w.errors)
	}
}

func one(name string) wire.Targets { return wire.Targets{Agents: []string{name}} }

func TestRunExitCodesAndSignals(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	startAgent(t, r, "box", nil)
	w := watch(t, r)
	w.waitAgent("box", wire.AgentIdle)
	tests := []struct {
		name   string
		spec   wire.CommandSpec
		state  wire.CommandState
		code   int // -1: no exit code
		signal string
		out    string
	}{
		{"success", wire.CommandSpec{Argv: []string{"echo", "hello"}}, wire.StateExited, 0, "", "hello\r\n"},
		{"exit 3", wire.CommandSpec{Shell: "echo bye; exit 3"}, wire.StateExited, 3, "", "bye\r\n"},
		{"killed", wire.CommandSpec{Shell: "kill -9 $$"}, wire.StateExited, -1, "SIGKILL", ""},
		{"no such program", wire.CommandSpec{Argv: []string{"/nonexistent/prog"}}, wire.StateRejected, -1, "", ""},
		{"timeout", wire.CommandSpec{Argv: []string{"sleep", "30"}, TimeoutMS: 300}, wire.StateTimedOut, -2, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmds := w.run(one("box"), tc.spec)
			c := w.waitEnd(cmds[0].ID)
			if c.State != tc.state {
				t.Fatalf("state %s (%s), want %s", c.State, c.Reason, tc.state)
			}
			switch {
			case tc.code >= 0 && (c.ExitCode == nil || *c.ExitCode != tc.code):
				t.Errorf("exit code %v, want %d", c.ExitCode, tc.code)
			case tc.code == -1 && c.ExitCode != nil:
				t.Errorf("exit code %d, want none", *c.ExitCode)
			}
			if c.Signal != tc.signal && tc.code != -2 {
				t.Errorf("signal %q, want %q", c.Signal, tc.signal)
			}
			if tc.state == wire.StateRejected && c.Reason == "" {
				t.Error("rejected without a reason")
			}
			if got := w.out(c.ID); tc.out != "" && got != tc.out {
				t.Errorf("output %q, want %q", got, tc.out)
			}
			if c.State == wire.StateExited && c.StartedAt.IsZero() {
				t.Error("no started_at")
			}
		})
	}
	w.noErrors()
}

// TestAllByteValues sends every byte value through a raw-mode PTY, the
// relay and a dashboard, and reads it back from SQLite.
func TestAllByteValues(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	startAgent(t, r, "box", nil)
	w := watch(t, r)
	w.waitAgent("box", wire.AgentIdle)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	file := filepath.Join(t.TempDir(), "bytes")
	if err := os.WriteFile(file, all, 0o644); err != nil {
		t.Fatal(err)
	}
	cmds := w.run(one("box"), wire.CommandSpec{Shell: "stty raw -echo -iexten && cat " + file})
	c := w.waitEnd(cmds[0].ID)
	if c.State != wire.StateExited || *c.ExitCode != 0 {
		t.Fatalf("command %s %v: %s", c.State, c.ExitCode, c.Reason)
	}
	if got := w.out(c.ID); got != string(all) {
		t.Fatalf("dashboard got %d bytes % x, want all 256 values", len(got), got)
	}
	r.Stop()
	st, err := sqlite.Open(context.Background(), r.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	data, _, err := st.ReadOutput(context.Background(), c.ID, 0, 1<<20)
	if err != nil || !bytes.Equal(data, all) {
		t.Fatalf("stored % x, %v; want all 256 values", data, err)
	}
}

// TestDashboardsSeeSameOrder runs commands on several agents while two
// dashboards watch: both must see the same events in the same order.
func TestDashboardsSeeSameOrder(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	w1, w2 := watch(t, r), watch(t, r)
	for i := range 3 {
		startAgent(t, r, fmt.Sprintf("box%d", i), nil)
	}
	for i := range 3 {
		w1.waitAgent(fmt.Sprintf("box%d", i), wire.AgentIdle)
	}
	var ids []string
	for i := range 6 {
		cmds := w1.run(wire.Targets{Agents: []string{fmt.Sprintf("box%d", i%3)}}, wire.CommandSpec{Shell: fmt.Sprintf("echo run %d", i)})
		ids = append(ids, cmds[0].ID)
	}
	for _, id := range ids {
		w1.waitEnd(id)
		relaytest.Eventually(t, waitLong, "second dashboard sees the end", func() bool { return w2.command(id).State.Final() })
	}
	// Both joined before any agent; once both have seen every agent back
	// to idle, their logs must be identical.
	for i := range 3 {
		w1.waitAgent(fmt.Sprintf("box%d", i), wire.AgentIdle)
		w2.waitAgent(fmt.Sprintf("box%d", i), wire.AgentIdle)
	}
	relaytest.Eventually(t, waitLong, "both logs complete", func() bool { return len(w1.eventLog()) == len(w2.eventLog()) })
	e1, e2 := w1.eventLog(), w2.eventLog()
	if !slices.Equal(e1, e2) {
		t.Fatalf("dashboards disagree:\n%s\n---\n%s", strings.Join(e1, "\n"), strings.Join(e2, "\n"))
	}
	if len(e1) < 3*6 {
		t.Errorf("only %d events", len(e1))
	}
	// A dashboard that joins late gets the same state in its snapshot.
	w3 := watch(t, r)
	for _, id := range ids {
		if got, want := w3.command(id).State, w1.command(id).State; got != want {
			t.Errorf("late dashboard: %s is %s, want %s", id, got, want)
		}
	}
}

// TestQueueOfflineAgentAndRestart queues a command for a known but offline
// agent, restarts the relay, and checks that it runs once the agent returns.
func TestQueueOfflineAgentAndRestart(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	stateDir := t.TempDir()
	a := startAgent(t, r, "later", func(c *agent.Config) { c.StateDir = stateDir })
	w := watch(t, r)
	w.waitAgent("later", wire.AgentIdle)
	agentID := a.ID()
	a.Stop() // known, and now offline
	w.waitAgent("later", wire.AgentOffline)

	cmds := w.run(one("later"), wire.CommandSpec{Shell: "echo from the queue"})
	if cmds[0].State != wire.StateQueued {
		t.Fatalf("state %s, want queued", cmds[0].State)
	}
	// Cancel of a queued command works without the agent.
	victim := w.run(one("later"), wire.CommandSpec{Shell: "echo never"})
	if err := w.cl.Cancel(victim[0].ID); err != nil {
		t.Fatal(err)
	}
	relaytest.Eventually(t, waitLong, "queued command cancelled", func() bool { return w.command(victim[0].ID).State == wire.StateCanceled })

	r.Stop()
	r.Start()
	w2 := watch(t, r)
	if got := w2.command(cmds[0].ID).State; got != wire.StateQueued {
		t.Fatalf("after restart the command is %q, want queued", got)
	}
	startAgent(t, r, "later", func(c *agent.Config) { c.StateDir = stateDir; c.ID = agentID })
	if err := w2.cl.Subscribe(cmds[0].ID, 0); err != nil {
		t.Fatal(err)
	}
	c := w2.waitEnd(cmds[0].ID)
	if c.State != wire.StateExited || w2.out(c.ID) != "from the queue\r\n" {
		t.Fatalf("queued command ended %s with %q", c.State, w2.out(c.ID))
	}
	if w2.command(victim[0].ID).State != wire.StateCanceled {
		t.Errorf("cancelled command came back as %s", w2.command(victim[0].ID).State)
	}
}

// TestConcurrencyLimitQueues sends more commands than the agent's limit:
// the rest wait queued and run as slots free up.
func TestConcurrencyLimitQueues(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	startAgent(t, r, "one", func(c *agent.Config) { c.MaxConcurrent = 1 })
	w := watch(t, r)
	w.waitAgent("one", wire.AgentIdle)
	first := w.run(one("one"), wire.CommandSpec{Shell: "sleep 0.5; echo first"})
	second := w.run(one("one"), wire.CommandSpec{Shell: "echo second"})
	relaytest.Eventually(t, waitLong, "first running", func() bool { return w.command(first[0].ID).State == wire.StateRunning })
	if got := w.command(second[0].ID).State; got != wire.StateQueued {
		t.Errorf("second is %s while first runs, want queued", got)
	}
	w.waitEnd(first[0].ID)
	c := w.waitEnd(second[0].ID)
	if c.State != wire.StateExited || !c.StartedAt.After(w.command(first[0].ID).StartedAt) {
		t.Errorf("second ended %s, started %v", c.State, c.StartedAt)
	}
}

// TestResumeFromOffset: a dashboard that reconnects asks for the rest of a
// command's output and gets exactly the missing bytes, from memory or from
// SQLite.
func TestResumeFromOffset(t *testing.T) {
	r := relaytest.Start(t, relay.Config{TailBytes: 4096})
	startAgent(t, r, "box", nil)
	w := watch(t, r)
	w.waitAgent("box", wire.AgentIdle)
	// 200 KB of numbered lines: far more than the 4 KB memory tail.
	cmds := w.run(one("box"), wire.CommandSpec{Shell: "seq 1 30000"})
	c := w.waitEnd(cmds[0].ID)
	full := w.out(c.ID)
	if int64(len(full)) != c.OutputBytes || !strings.HasSuffix(full, "30000\r\n") {
		t.Fatalf("got %d bytes ending %q, command says %d", len(full), full[max(0, len(full)-20):], c.OutputBytes)
	}
	for _, from := range []int64{0, 1, 4095, 100000, int64(len(full)) - 3, int64(len(full))} {
		t.Run(fmt.Sprint(from), func(t *testing.T) {
			w2 := watch(t, r)
			w2.mu.Lock()
			w2.output[c.ID] = bytes.NewBuffer(make([]byte, from)) // pretend we already have [0, from)
			w2.mu.Unlock()
			if err := w2.cl.Subscribe(c.ID, from); err != nil {
				t.Fatal(err)
			}
			relaytest.Eventually(t, waitLong, "output end", func() bool { return w2.hasEnded(c.ID) })
			if got := w2.out(c.ID)[from:]; got != full[from:] {
				t.Fatalf("from %d: got %d bytes, want %d", from, len(got), len(full)-int(from))
			}
			w2.noErrors()
		})
	}
	// And while the command is still running: subscribe mid-stream.
	cmds = w.run(one("box"), wire.CommandSpec{Shell: "for i in $(seq 1 20); do echo line $i; sleep 0.02; done"})
	relaytest.Eventually(t, waitLong, "some output", func() bool { return strings.Contains(w.out(cmds[0].ID), "line 3") })
	w3 := watch(t, r)
	if err := w3.cl.Subscribe(cmds[0].ID, 0); err != nil {
		t.Fatal(err)
	}
	w.waitEnd(cmds[0].ID)
	relaytest.Eventually(t, waitLong, "late subscriber end", func() bool { return w3.hasEnded(cmds[0].ID) })
	if w3.out(cmds[0].ID) != w.out(cmds[0].ID) {
		t.Fatalf("mid-stream subscriber got %q, want %q", w3.out(cmds[0].ID), w.out(cmds[0].ID))
	}
	w.noErrors()
}

// TestSessionModeTypedInput runs an agent with its own session (cat), types
// into it from a dashboard and reads the echo.
func TestSessionModeTypedInput(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	w := watch(t, r)
	startAgent(t, r, "sess", func(c *agent.Config) { c.Session = []string{"cat"} })
	var session wire.Command
	relaytest.Eventually(t, waitLong, "session appears", func() bool {
		for _, c := range w.cl.State().Commands {
			if c.Session && c.AgentName == "sess" && c.State == wire.StateRunning {
				session = c
				return true
			}
		}
		return false
	})
	if err := w.cl.Subscribe(session.ID, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.cl.Input(session.ID, []byte("hello session\r")); err != nil {
		t.Fatal(err)
	}
	relaytest.Eventually(t, waitLong, "echo from cat", func() bool { return strings.Count(w.out(session.ID), "hello session") >= 2 })
	if err := w.cl.Resize(session.ID, 100, 30); err != nil {
		t.Fatal(err)
	}
	// ^D ends cat; the session's end is reported like any command's.
	if err := w.cl.Input(session.ID, []byte{4}); err != nil {
		t.Fatal(err)
	}
	c := w.waitEnd(session.ID)
	if c.State != wire.StateExited || c.ExitCode == nil || *c.ExitCode != 0 {
		t.Fatalf("session ended %s %v", c.State, c.ExitCode)
	}
	w.noErrors()
}

// TestCancelRunning cancels a running command: SIGINT stops it.
func TestCancelRunning(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	startAgent(t, r, "box", nil)
	w := watch(t, r)
	w.waitAgent("box", wire.AgentIdle)
	cmds := w.run(one("box"), wire.CommandSpec{Argv: []string{"sleep", "60"}})
	relaytest.Eventually(t, waitLong, "running", func() bool { return w.command(cmds[0].ID).State == wire.StateRunning })
	if err := w.cl.Cancel(cmds[0].ID); err != nil {
		t.Fatal(err)
	}
	c := w.waitEnd(cmds[0].ID)
	if c.State != wire.StateCanceled {
		t.Fatalf("state %s, want cancelled", c.State)
	}
	// Input to a finished command is refused with a clear error.
	if err := w.cl.Input(c.ID, []byte("x")); err != nil {
		t.Fatal(err)
	}
	relaytest.Eventually(t, waitLong, "not_running error", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.errors) > 0 && strings.HasPrefix(w.errors[0], wire.CodeNotRunning)
	})
}

// TestLabelTargetsAndHistory runs on a label selector and checks history.
func TestLabelTargetsAndHistory(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	startAgent(t, r, "ci-1", func(c *agent.Config) { c.Labels = map[string]string{"pool": "ci"} })
	startAgent(t, r, "ci-2", func(c *agent.Config) { c.Labels = map[string]string{"pool": "ci"} })
	startAgent(t, r, "dev", func(c *agent.Config) { c.Labels = map[string]string{"pool": "dev"} })
	w := watch(t, r)
	for _, n := range []string{"ci-1", "ci-2", "dev"} {
		w.waitAgent(n, wire.AgentIdle)
	}
	cmds := w.run(wire.Targets{Labels: map[string]string{"pool": "ci"}}, wire.CommandSpec{Shell: "hostname >/dev/null; echo ok"})
	if len(cmds) != 2 || cmds[0].AgentName != "ci-1" || cmds[1].AgentName != "ci-2" {
		t.Fatalf("label run created %+v", cmds)
	}
	for _, c := range cmds {
		w.waitEnd(c.ID)
	}
	ctx := context.Background()
	h, err := w.cl.History(ctx, wire.HistoryQuery{Agent: "ci-2"})
	if err != nil || len(h) != 1 || h[0].ID != cmds[1].ID || h[0].State != wire.StateExited {
		t.Fatalf("history for ci-2: %+v %v", h, err)
	}
	if _, err := w.cl.History(ctx, wire.HistoryQuery{Agent: "nobody"}); err == nil {
		t.Error("history of an unknown agent succeeded")
	}
}

// TestStoreHoldsEverything checks what a restart reads back.
func TestStoreHoldsEverything(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	startAgent(t, r, "box", nil)
	w := watch(t, r)
	w.waitAgent("box", wire.AgentIdle)
	cmds := w.run(one("box"), wire.CommandSpec{Shell: "echo stored; exit 7"})
	w.waitEnd(cmds[0].ID)
	r.Stop()
	st, err := sqlite.Open(context.Background(), r.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := st.History(context.Background(), store.HistoryQuery{ID: cmds[0].ID})
	if err != nil || len(h) != 1 {
		t.Fatalf("history: %v %v", h, err)
	}
	c := h[0]
	if c.State != wire.StateExited || *c.ExitCode != 7 || c.OutputBytes != int64(len("stored\r\n")) || c.RequestedBy == "" {
		t.Errorf("stored command %+v", c)
	}
	state, err := st.Load(context.Background())
	if err != nil || len(state.Agents) != 1 || state.EventSeq == 0 {
		t.Errorf("stored state: %+v %v", state, err)
	}
}

// TestMetrics checks that /metrics reports connections, traffic, commands
// and store commits in the Prometheus text format.
func TestMetrics(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	startAgent(t, r, "box", nil)
	w := watch(t, r)
	w.waitAgent("box", wire.AgentIdle)
	w.waitEnd(w.run(one("box"), wire.CommandSpec{Shell: "echo metrics"})[0].ID)
	body, err := httpGet(r.HTTPURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`switchboard_connections{kind="agent"} 1`,
		`switchboard_connections{kind="dashboard"} 1`,
		`switchboard_polled_connections 1`, // the agent, on Linux; the dashboard has its own reader
		`switchboard_send_queue_bytes{kind="dashboard"}`,
		`switchboard_socket_writes_total{kind="agent"}`,
		`switchboard_commands_total{state="exited"} 1`,
		`switchboard_agents_online 1`,
		`switchboard_messages_in_total{kind="agent"}`,
		`switchboard_bytes_out_total{kind="dashboard"}`,
		`switchboard_store_commit_seconds_count`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestUnsubscribeDuringReplay: a dashboard replaying a long stored output
// is still served meanwhile, and an unsubscribe stops the replay.
func TestUnsubscribeDuringReplay(t *testing.T) {
	r := relaytest.Start(t, relay.Config{TailBytes: 64 << 10})
	startAgent(t, r, "box", nil)
	w := watch(t, r)
	w.waitAgent("box", wire.AgentIdle)
	c := w.waitEnd(w.run(one("box"), wire.CommandSpec{Shell: "seq 1 1000000"})[0].ID)
	if c.OutputBytes < 6<<20 {
		t.Fatalf("only %d bytes of output", c.OutputBytes)
	}
	p := dialRaw(t, r, wire.DashboardPath)
	helloDashboard(p)
	p.send(&wire.Subscribe{CommandID: c.ID})
	p.send(&wire.Unsubscribe{CommandID: c.ID})
	p.send(&wire.HistoryQuery{RequestID: "after", Limit: 1})
	received := 0
	_ = p.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for answered := false; !answered; {
		kind, data, err := p.ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if kind == websocket.BinaryMessage {
			received += len(data)
			continue
		}
		if m, _ := wire.Decode(data); m != nil {
			_, answered = m.(*wire.HistoryResult)
		}
	}
	// Drain what was already in flight, then nothing more may come.
	_ = p.ws.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	for {
		_, data, err := p.ws.ReadMessage()
		if err != nil {
			break
		}
		received += len(data)
	}
	if int64(received) > c.OutputBytes/2 {
		t.Errorf("received %d of %d bytes after unsubscribing at once", received, c.OutputBytes)
	}
}

// TestResubscribeMarksItsFrames: after unsubscribe and subscribe again, as
// a page pausing for flow control does, every frame after the relay's
// subscribed marker belongs to the new subscription: it starts at the
// offset asked for and runs on without a gap to the end, whatever frames of
// the first subscription were still queued before the marker.
func TestResubscribeMarksItsFrames(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	startAgent(t, r, "box", nil)
	w := watch(t, r)
	w.waitAgent("box", wire.AgentIdle)
	p := dialRaw(t, r, wire.DashboardPath)
	helloDashboard(p)
	c := w.run(one("box"), wire.CommandSpec{Shell: "seq 1 300000"})[0]
	read := func() (int, []byte) {
		t.Helper()
		_ = p.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		kind, data, err := p.ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return kind, data
	}
	p.send(&wire.Subscribe{CommandID: c.ID})
	var have int64
	for frames := 0; frames < 3; {
		if kind, data := read(); kind == websocket.BinaryMessage {
			if f, err := wire.ParseFrame(data); err == nil && f.CommandID == c.ID && f.Offset <= have {
				have = max(have, f.End())
				frames++
			}
		}
	}
	p.send(&wire.Unsubscribe{CommandID: c.ID})
	p.send(&wire.Subscribe{CommandID: c.ID, Offset: have})
	marked := false
	for {
		kind, data := read()
		if kind == websocket.BinaryMessage {
			f, err := wire.ParseFrame(data)
			if err != nil || !marked || f.CommandID != c.ID {
				continue // the first subscription's, queued before the marker
			}
			if f.Offset != have {
				t.Fatalf("after the marker a frame at %d; want %d, where the last one ended", f.Offset, have)
			}
			have = f.End()
			continue
		}
		switch m, _ := wire.Decode(data); m := m.(type) {
		case *wire.Subscribed:
			if m.CommandID == c.ID {
				marked = m.Offset == have
			}
		case *wire.OutputEnd:
			if marked && m.CommandID == c.ID {
				if m.Offset != have {
					t.Fatalf("output.end at %d; the frames after the marker reached %d", m.Offset, have)
				}
				if want := int64(len(seqOutput(300000))); have != want {
					t.Fatalf("%d bytes; seq 1 300000 writes %d", have, want)
				}
				return
			}
		}
	}
}

// seqOutput is what seq 1 n prints through a terminal.
func seqOutput(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d\r\n", i)
	}
	return b.String()
}
