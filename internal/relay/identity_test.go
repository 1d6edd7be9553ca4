package relay_test

// Attacks by a holder of an agent token, sent as an attacker would over
// real connections: impersonating another agent, registering many, and
// declaring more than an agent may.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// agentHello connects a raw agent claiming id and name with token, and
// returns it once welcomed, or the relay's refusal.
func claimAgent(t *testing.T, r *relaytest.Relay, token, id, name string, labels map[string]string) (*rawPeer, *wire.Error, *websocket.CloseError) {
	t.Helper()
	p := dialRaw(t, r, wire.AgentPath)
	p.send(&wire.Hello{Protocol: wire.ProtocolVersion, Token: token,
		Agent: &wire.AgentInfo{ID: id, Name: name, Labels: labels, MaxConcurrent: 4}})
	m, err := p.next()
	if err != nil {
		t.Fatalf("agent %s hello: %v", name, err)
	}
	if e, ok := m.(*wire.Error); ok {
		return nil, e, p.expectClose()
	}
	return p, nil, nil
}

// refused checks a claim was refused with forbidden and 4403.
func refused(t *testing.T, what string, e *wire.Error, ce *websocket.CloseError, want string) {
	t.Helper()
	switch {
	case e == nil:
		t.Errorf("%s: accepted", what)
	case e.Code != wire.CodeForbidden || ce == nil || ce.Code != wire.CloseForbidden:
		t.Errorf("%s: error %v, close %v; want forbidden and 4403", what, e, ce)
	case !strings.Contains(e.Message, want):
		t.Errorf("%s: %q, want it to say %q", what, e.Message, want)
	}
}

// TestAgentImpersonation: a second agent token can take over neither the
// id nor the name of a connected agent: it is refused with forbidden and
// 4403, the real agent keeps its connection, and the commands, their env
// and the keystrokes typed into them go to the real agent only. The same
// token may replace its own connection. Every connect and refusal is in
// the audit trail with the id and name claimed.
func TestAgentImpersonation(t *testing.T) {
	r, admin := relaytest.StartAuth(t, relay.Config{})
	real := r.AgentToken("build-1-token", "build-1")
	thief := r.Token("thief", store.RoleAgent, 0)

	victim, e, _ := claimAgent(t, r, real, "a-build-1", "build-1", nil)
	if e != nil {
		t.Fatalf("the real agent: %v", e)
	}
	_, e, ce := claimAgent(t, r, thief, "a-build-1", "impostor", nil)
	refused(t, "another token with the agent's id", e, ce, "agent id a-build-1 is bound to another token")
	_, e, ce = claimAgent(t, r, thief, "a-new", "build-1", nil)
	refused(t, "another token with the agent's name", e, ce, "agent name build-1 is bound to another token")

	// The real agent is still connected and gets the command, its env
	// and the keystrokes.
	ops, _ := dashboardAs(t, r, admin)
	ops.send(&wire.Run{RequestID: "r", Targets: one("build-1"), CommandSpec: wire.CommandSpec{Argv: []string{"cat"}, Env: wire.Strings{"SECRET": "s3cret"}}})
	id := expect[*wire.RunAccepted](ops).Commands[0].ID
	start := expect[*wire.Start](victim)
	if start.Command.ID != id || start.Command.Env["SECRET"] != "s3cret" {
		t.Fatalf("the real agent got %+v", start.Command)
	}
	victim.send(&wire.Started{CommandID: id, StartedAt: time.Now()})
	waitState(t, ops, id, wire.StateRunning)
	if err := ops.ws.WriteMessage(websocket.BinaryMessage, wire.InputFrame(id, []byte("typed"))); err != nil {
		t.Fatal(err)
	}
	if kind, data, err := victim.ws.ReadMessage(); err != nil || kind != websocket.BinaryMessage || !strings.HasSuffix(string(data), "typed") {
		t.Fatalf("the real agent's next message: %d %q %v; want the keystrokes", kind, data, err)
	}

	// The thief's token is bound to its own first agent, and only to it.
	if _, e, _ := claimAgent(t, r, thief, "a-thief", "thief-box", nil); e != nil {
		t.Fatalf("the thief's token as an agent of its own: %v", e)
	}
	_, e, ce = claimAgent(t, r, thief, "a-thief-2", "thief-box-2", nil)
	refused(t, "a second agent on a token bound to one", e, ce, "may register 1 agent(s)")

	// A restarted agent (same token, same identity) replaces its own
	// connection.
	if _, e, _ := claimAgent(t, r, real, "a-build-1", "build-1", nil); e != nil {
		t.Fatalf("the real agent again: %v", e)
	}
	if ce := victim.expectClose(); ce.Code != wire.CloseReplaced {
		t.Errorf("the real agent's earlier connection: close %d, want %d", ce.Code, wire.CloseReplaced)
	}
	// A token bound to build-1 at creation registers nothing else.
	_, e, ce = claimAgent(t, r, real, "a-other", "other", nil)
	refused(t, "the bound token as another agent", e, ce, "may register 1 agent(s)")

	cl := dialAdmin(t, r, admin)
	var trail []string
	relaytest.Eventually(t, 10*time.Second, "agent connects and refusals in the audit trail", func() bool {
		entries, err := cl.Audit(context.Background(), 200)
		if err != nil {
			t.Fatal(err)
		}
		trail = trail[:0]
		for _, e := range entries {
			if e.Action == "agent_connect" {
				trail = append(trail, fmt.Sprintf("%s %s %s %s", e.Token, e.Subject, e.Result, e.Detail))
			}
		}
		joined := strings.Join(trail, "\n")
		return strings.Contains(joined, `build-1-token a-build-1 ok as "build-1"`) &&
			strings.Contains(joined, `thief a-build-1 denied as "impostor"`) &&
			strings.Contains(joined, `thief a-new denied as "build-1"`)
	})
}

// relaytestWaitState reads p's events until command id is in state.
func waitState(t *testing.T, p *rawPeer, id string, state wire.CommandState) {
	t.Helper()
	for {
		ev := expect[*wire.CommandEvent](p)
		if ev.Command.ID == id && ev.Command.State == state {
			return
		}
	}
}

// TestRevokedTokenFreesItsAgent: once the bound token is revoked, a new
// token may register the agent.
func TestRevokedTokenFreesItsAgent(t *testing.T) {
	r, _ := relaytest.StartAuth(t, relay.Config{})
	old := r.Token("old", store.RoleAgent, 0)
	if _, e, _ := claimAgent(t, r, old, "a-box", "box", nil); e != nil {
		t.Fatal(e)
	}
	r.Revoke("old")
	fresh := r.Token("fresh", store.RoleAgent, 0)
	relaytest.Eventually(t, 10*time.Second, "the new token to register the agent", func() bool {
		p, e, _ := claimAgent(t, r, fresh, "a-box", "box", nil)
		if p != nil {
			p.ws.Close()
		}
		return e == nil
	})
}

// TestAgentDeclarationLimits: what an agent declares is bounded, and
// refused past the bounds with a reason.
func TestAgentDeclarationLimits(t *testing.T) {
	r := relaytest.Start(t, relay.Config{MaxLabels: 3, MaxLabelKey: 8, MaxLabelValue: 16})
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{"too many labels", map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}, "declares 4 labels; the limit is 3"},
		{"a long label name", map[string]string{strings.Repeat("k", 9): "v"}, "label name of 9 bytes; the limit is 8"},
		{"a long label value", map[string]string{"k": strings.Repeat("v", 17)}, "a value of 17 bytes; the limit is 16"},
	} {
		_, e, ce := claimAgent(t, r, "", "a-"+strings.ReplaceAll(tt.name, " ", "-"), "x", tt.labels)
		if e == nil || e.Code != wire.CodeBadHandshake || !strings.Contains(e.Message, tt.want) || ce.Code != wire.CloseBadHandshake {
			t.Errorf("%s: error %v, close %v; want bad_handshake saying %q", tt.name, e, ce, tt.want)
		}
	}
	if _, e, _ := claimAgent(t, r, "", "a-fine", "fine", map[string]string{"a": "1", "bbbbbbbb": strings.Repeat("v", 16)}); e != nil {
		t.Errorf("labels within the limits: %v", e)
	}
}

// TestSnapshotNeverCutsADashboard: a state larger than a dashboard's
// send queue (here many agents with the most labels they may declare)
// reaches a joining dashboard whole; it is not cut off as a slow consumer.
func TestSnapshotNeverCutsADashboard(t *testing.T) {
	r := relaytest.Start(t, relay.Config{SendQueueBytes: 64 << 10})
	labels := map[string]string{}
	for i := range 32 {
		labels[fmt.Sprintf("label-%02d", i)] = strings.Repeat("v", 256)
	}
	const agents = 40 // about 12 KB each: the state is several times the queue
	for i := range agents {
		if _, e, _ := claimAgent(t, r, "", fmt.Sprintf("a-%02d", i), fmt.Sprintf("box-%02d", i), labels); e != nil {
			t.Fatal(e)
		}
	}
	p := dialRaw(t, r, wire.DashboardPath)
	p.send(&wire.Hello{Protocol: wire.ProtocolVersion})
	expect[*wire.Welcome](p)
	seen, parts := 0, 0
	for {
		s := expect[*wire.Snapshot](p)
		seen += len(s.Agents)
		parts++
		if !s.Partial {
			break
		}
	}
	if seen != agents || parts < 2 {
		t.Fatalf("snapshot: %d agents in %d parts, want %d in several", seen, parts, agents)
	}
	p.send(&wire.HistoryQuery{RequestID: "still-here"})
	if res := expect[*wire.HistoryResult](p); res.RequestID != "still-here" {
		t.Fatalf("history answer %+v", res)
	}
}

// TestSessionCannotRewriteHistory: an agent's session may not take the id
// of a command dispatched to another agent or to itself, live or stored
// long ago; such a session is refused, its output dropped, and the stored
// command keeps its agent, command line, exit code and output.
func TestSessionCannotRewriteHistory(t *testing.T) {
	r, admin := relaytest.StartAuth(t, relay.Config{RecentCommands: 1})
	a, e, _ := claimAgent(t, r, r.Token("ta", store.RoleAgent, 0), "a-honest", "honest", nil)
	if e != nil {
		t.Fatal(e)
	}
	b, e, _ := claimAgent(t, r, r.Token("tb", store.RoleAgent, 0), "a-forger", "forger", nil)
	if e != nil {
		t.Fatal(e)
	}
	ops, _ := dashboardAs(t, r, admin)
	runOn := func(out string, exit int, end bool) string {
		t.Helper()
		ops.send(&wire.Run{RequestID: "r", Targets: one("honest"), CommandSpec: wire.CommandSpec{Argv: []string{"make", "release"}}})
		id := expect[*wire.RunAccepted](ops).Commands[0].ID
		if s := expect[*wire.Start](a); s.Command.ID != id {
			t.Fatalf("start of %s", s.Command.ID)
		}
		a.send(&wire.Started{CommandID: id, StartedAt: time.Now()})
		if err := a.ws.WriteMessage(websocket.BinaryMessage, wire.OutputFrame(id, 0, []byte(out))); err != nil {
			t.Fatal(err)
		}
		if end {
			a.send(&wire.Exited{CommandID: id, State: wire.StateExited, ExitCode: &exit, Offset: int64(len(out)), EndedAt: time.Now()})
			waitState(t, ops, id, wire.StateExited)
		}
		return id
	}
	old := runOn("real output\r\n", 0, true)
	live := runOn("newer\r\n", 0, false) // in memory; old is now only in the store
	cl := dialAdmin(t, r, admin)
	relaytest.Eventually(t, 10*time.Second, "the old command stored", func() bool {
		h, err := cl.History(context.Background(), wire.HistoryQuery{CommandID: old})
		return err == nil && len(h) == 1 && h[0].OutputBytes == int64(len("real output\r\n"))
	})

	bad := 66
	forge := func(p *rawPeer, who, id string) {
		t.Helper()
		p.send(&wire.SessionOpened{Command: wire.Command{ID: id, CommandSpec: wire.CommandSpec{Argv: []string{"true"}}, ExitCode: &bad}})
		if err := p.ws.WriteMessage(websocket.BinaryMessage, wire.OutputFrame(id, 0, []byte("FORGED OUTPUT FORGED"))); err != nil {
			t.Fatal(err)
		}
		p.send(&wire.Exited{CommandID: id, State: wire.StateExited, ExitCode: &bad, Offset: 20, EndedAt: time.Now()})
		e := expect[*wire.Error](p)
		if e.Code != wire.CodeInvalidArgument || !strings.Contains(e.Message, "taken by another command") {
			t.Errorf("%s opening a session as %s: %v", who, id, e)
		}
	}
	forge(b, "another agent", old)
	forge(b, "another agent", live)
	forge(a, "the same agent", old)

	h, err := cl.History(context.Background(), wire.HistoryQuery{CommandID: old})
	if err != nil || len(h) != 1 {
		t.Fatalf("history of %s: %v %v", old, h, err)
	}
	if c := h[0]; c.AgentID != "a-honest" || c.Session || c.Argv[0] != "make" || *c.ExitCode != 0 || c.OutputBytes != int64(len("real output\r\n")) {
		t.Errorf("the stored command was rewritten: %+v", c)
	}
	if c := cl.State().Commands[live]; c.AgentID != "a-honest" || c.State != wire.StateRunning || c.Session {
		t.Errorf("the live command was rewritten: %+v", c)
	}
	// A session with an id of its own is taken.
	b.send(&wire.SessionOpened{Command: wire.Command{ID: "s-forger-1", CommandSpec: wire.CommandSpec{Argv: []string{"bash"}}}})
	relaytest.Eventually(t, 10*time.Second, "the forger's own session", func() bool {
		c, ok := cl.State().Commands["s-forger-1"]
		return ok && c.AgentID == "a-forger" && c.Session
	})
}
