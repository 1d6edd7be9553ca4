package relay_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// storedEnvSecret reports whether the relay's database holds secret
// anywhere a command or an event is kept.
func storedEnvSecret(t *testing.T, r *relaytest.Relay, secret string) bool {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+r.DBPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	err = db.QueryRow(`SELECT (SELECT count(*) FROM commands WHERE env LIKE '%' || ?1 || '%')
		+ (SELECT count(*) FROM events WHERE CAST(data AS TEXT) LIKE '%' || ?1 || '%')`, secret).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestEnvSecretsReachOnlyTheAgent: a command's env values go to its agent
// and to no dashboard (run answer, events, snapshot, history show the
// names only); they survive a relay restart while the command is queued,
// and leave the store once it has started.
func TestEnvSecretsReachOnlyTheAgent(t *testing.T) {
	const secret = "s3cret-value-9f2"
	r := relaytest.Start(t, relay.Config{})
	ops := dialRaw(t, r, wire.DashboardPath)
	ops.send(&wire.Hello{Protocol: wire.ProtocolVersion})
	expect[*wire.Snapshot](ops)
	// The agent is known but offline: the command waits in the queue.
	ag, e, _ := claimAgent(t, r, "", "a-box", "box", nil)
	if e != nil {
		t.Fatal(e)
	}
	ag.ws.Close()
	relaytest.Eventually(t, 10*time.Second, "the agent offline", func() bool {
		ev := expect[*wire.AgentEvent](ops)
		return ev.Agent.ID == "a-box" && ev.Agent.Status == wire.AgentOffline
	})
	ops.send(&wire.Run{RequestID: "r", Targets: one("box"), CommandSpec: wire.CommandSpec{Argv: []string{"deploy"}, Env: wire.Strings{"API_TOKEN": secret}}})
	acc := expect[*wire.RunAccepted](ops)
	c := acc.Commands[0]
	if c.Env != nil || len(c.EnvKeys) != 1 || c.EnvKeys[0] != "API_TOKEN" {
		t.Fatalf("run.accepted shows env %v, names %v; want the name only", c.Env, c.EnvKeys)
	}
	ev := expect[*wire.CommandEvent](ops)
	if ev.Command.Env != nil || ev.Command.EnvKeys[0] != "API_TOKEN" {
		t.Fatalf("the command event shows env %v", ev.Command.Env)
	}

	// A relay restart while it is queued keeps the values, for the agent.
	r.Stop()
	r.Start()
	viewer := dialRaw(t, r, wire.DashboardPath)
	viewer.send(&wire.Hello{Protocol: wire.ProtocolVersion})
	snap := expect[*wire.Snapshot](viewer)
	for _, sc := range snap.Commands {
		if sc.ID == c.ID && (sc.Env != nil || len(sc.EnvKeys) != 1) {
			t.Errorf("the snapshot shows env %v, names %v", sc.Env, sc.EnvKeys)
		}
	}
	ag, e, _ = claimAgent(t, r, "", "a-box", "box", nil)
	if e != nil {
		t.Fatal(e)
	}
	start := expect[*wire.Start](ag)
	if start.Command.Env["API_TOKEN"] != secret {
		t.Fatalf("the agent got env %v after the restart, want the value", start.Command.Env)
	}
	ag.send(&wire.Started{CommandID: c.ID, StartedAt: time.Now()})
	relaytest.Eventually(t, 10*time.Second, "the value gone from the store", func() bool { return !storedEnvSecret(t, r, secret) })

	cl := dialAdmin(t, r, "")
	h, err := cl.History(context.Background(), wire.HistoryQuery{CommandID: c.ID})
	if err != nil || len(h) != 1 || h[0].Env != nil || strings.Join(h[0].EnvKeys, ",") != "API_TOKEN" {
		t.Errorf("history: %+v %v; want the env name only", h, err)
	}
}
