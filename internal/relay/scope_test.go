package relay_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// TestScopedToken: an operator token scoped to pool=ci sees and drives
// only the agents labelled so and their commands, message by message:
// snapshot, events, run, subscribe and output, history, input, resize,
// cancel, quick replies and session restarts; audit and agent.forget stay
// an admin's. Outside its scope everything is as if it did not exist,
// except a run, which is forbidden.
func TestScopedToken(t *testing.T) {
	r, admin := relaytest.StartAuth(t, relay.Config{})
	scoped := r.ScopedToken("ci-ops", store.RoleOperator, map[string]string{"pool": "ci"})
	ci, e, _ := claimAgent(t, r, r.Token("ci-agent", store.RoleAgent, 0), "a-ci", "ci-1", wire.Strings{"pool": "ci", "os": "linux"})
	if e != nil {
		t.Fatal(e)
	}
	prod, e, _ := claimAgent(t, r, r.Token("prod-agent", store.RoleAgent, 0), "a-prod", "prod-1", wire.Strings{"pool": "prod", "os": "linux"})
	if e != nil {
		t.Fatal(e)
	}
	boss, _ := dashboardAs(t, r, admin)
	start := func(agent *rawPeer, target string) string {
		t.Helper()
		boss.send(&wire.Run{RequestID: "r", Targets: one(target), CommandSpec: wire.CommandSpec{Argv: []string{"cat"}}})
		id := expect[*wire.RunAccepted](boss).Commands[0].ID
		expect[*wire.Start](agent)
		agent.send(&wire.Started{CommandID: id, StartedAt: time.Now()})
		if err := agent.ws.WriteMessage(websocket.BinaryMessage, wire.OutputFrame(id, 0, []byte("out of "+target+"\r\n"))); err != nil {
			t.Fatal(err)
		}
		waitState(t, boss, id, wire.StateRunning)
		return id
	}
	ciCmd, prodCmd := start(ci, "ci-1"), start(prod, "prod-1")

	p, ce := dashboardAs(t, r, scoped)
	if ce != nil {
		t.Fatal(ce)
	}
	// snapshot (dashboardAs read it; read a fresh one to look inside)
	p2 := dialRaw(t, r, wire.DashboardPath)
	p2.send(&wire.Hello{Protocol: wire.ProtocolVersion, Token: scoped})
	snap := expect[*wire.Snapshot](p2)
	if len(snap.Agents) != 1 || snap.Agents[0].ID != "a-ci" || len(snap.Commands) != 1 || snap.Commands[0].ID != ciCmd {
		t.Errorf("snapshot: agents %v, commands %v; want ci-1 and its command only", snap.Agents, snap.Commands)
	}

	// events: prod's come first, then ci's; the scoped dashboard's first
	// is ci's.
	boss.send(&wire.Resize{CommandID: prodCmd, Cols: 90, Rows: 30})
	boss.send(&wire.Resize{CommandID: ciCmd, Cols: 91, Rows: 31})
	if ev := expect[*wire.CommandEvent](p); ev.Command.ID != ciCmd {
		t.Errorf("the scoped dashboard got an event of %s (%s); want only ci's", ev.Command.ID, ev.Command.AgentName)
	}

	wantErr := func(what, code string) {
		t.Helper()
		if e := expect[*wire.Error](p); e.Code != code {
			t.Errorf("%s: error %s %q, want %s", what, e.Code, e.Message, code)
		}
	}
	// run
	for _, targets := range []wire.Targets{one("prod-1"), one("a-prod"), {Labels: wire.Strings{"pool": "prod"}}, {Labels: wire.Strings{"os": "linux"}}} {
		p.send(&wire.Run{RequestID: "x", Targets: targets, CommandSpec: wire.CommandSpec{Argv: []string{"id"}}})
		wantErr("run on "+describe(targets), wire.CodeForbidden)
	}
	p.send(&wire.Run{RequestID: "ok", Targets: wire.Targets{Labels: wire.Strings{"pool": "ci"}}, CommandSpec: wire.CommandSpec{Argv: []string{"id"}}})
	if acc := expect[*wire.RunAccepted](p); len(acc.Commands) != 1 || acc.Commands[0].AgentID != "a-ci" {
		t.Errorf("run on pool=ci: %+v", acc.Commands)
	}
	if s := expect[*wire.Start](ci); s.Command.Argv[0] != "id" {
		t.Errorf("ci-1 got %+v", s.Command)
	}
	// subscribe and output
	p.send(&wire.Subscribe{CommandID: prodCmd})
	wantErr("subscribe to prod's command", wire.CodeNotFound)
	p.send(&wire.Subscribe{CommandID: ciCmd})
	expect[*wire.Subscribed](p)
	// history
	p.send(&wire.HistoryQuery{RequestID: "h"})
	for _, c := range expect[*wire.HistoryResult](p).Commands {
		if c.AgentID != "a-ci" {
			t.Errorf("history holds %s of %s", c.ID, c.AgentName)
		}
	}
	p.send(&wire.HistoryQuery{RequestID: "h2", Agent: "prod-1"})
	wantErr("history of prod-1", wire.CodeNotFound)
	p.send(&wire.HistoryQuery{RequestID: "h3", CommandID: prodCmd})
	if res := expect[*wire.HistoryResult](p); len(res.Commands) != 0 {
		t.Errorf("history of prod's command: %+v", res.Commands)
	}
	// input, resize, cancel
	if err := p.ws.WriteMessage(websocket.BinaryMessage, wire.InputFrame(prodCmd, []byte("rm -rf /\r"))); err != nil {
		t.Fatal(err)
	}
	wantErr("input to prod's command", wire.CodeNotFound)
	p.send(&wire.Resize{CommandID: prodCmd, Cols: 10, Rows: 10})
	wantErr("resize of prod's command", wire.CodeNotFound)
	p.send(&wire.Cancel{RequestID: "c", CommandID: prodCmd})
	wantErr("cancel of prod's command", wire.CodeNotFound)
	p.send(&wire.QuickReply{RequestID: "q", CommandID: prodCmd, Text: "y\r"})
	wantErr("quick reply to prod's command", wire.CodeNotFound)
	p.send(&wire.QuickReply{RequestID: "q2", Agent: "prod-1", Text: "y\r"})
	wantErr("quick reply to prod-1", wire.CodeNotFound)
	p.send(&wire.RestartSession{RequestID: "s", Agent: "prod-1"})
	wantErr("restart of prod-1's session", wire.CodeNotFound)
	p.send(&wire.AuditQuery{RequestID: "a"})
	wantErr("audit", wire.CodeForbidden)
	p.send(&wire.AgentForget{RequestID: "f", Agent: "prod-1"})
	wantErr("forget prod-1", wire.CodeForbidden)
	// Input to its own command still goes through.
	if err := p.ws.WriteMessage(websocket.BinaryMessage, wire.InputFrame(ciCmd, []byte("hello\r"))); err != nil {
		t.Fatal(err)
	}
	_ = ci.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		kind, data, err := ci.ws.ReadMessage()
		if err != nil {
			t.Fatalf("ci-1 waiting for the input: %v", err)
		}
		if kind == websocket.BinaryMessage && strings.HasSuffix(string(data), "hello\r") {
			break
		}
	}
	// Nothing reached prod-1 from the scoped token, and its command runs on.
	_ = prod.ws.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	for {
		kind, data, err := prod.ws.ReadMessage()
		if err != nil {
			break
		}
		if kind == websocket.BinaryMessage || strings.Contains(string(data), `"cols":10`) || strings.Contains(string(data), `"cancel"`) {
			t.Errorf("prod-1 got a message from the scoped token's requests: %d %q", kind, data)
		}
	}
	cl := dialAdmin(t, r, admin)
	if c := cl.State().Commands[prodCmd]; c.State != wire.StateRunning || c.Cols == 10 {
		t.Errorf("prod's command after the scoped token's attempts: %+v", c)
	}
	if _, err := cl.History(context.Background(), wire.HistoryQuery{CommandID: prodCmd}); err != nil {
		t.Fatal(err)
	}
}

func describe(t wire.Targets) string {
	return strings.Join(t.Agents, ",") + formatLabels(t.Labels)
}

func formatLabels(l wire.Strings) string {
	var parts []string
	for k, v := range l {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}
