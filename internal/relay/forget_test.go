package relay_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// TestForgetAgent: an admin forgets an offline agent: it leaves every
// dashboard (agent.removed) and the store, its queued command ends, its
// history stays, and its name is free for another token. A connected
// agent, and a token that is not an admin's, are refused.
func TestForgetAgent(t *testing.T) {
	r, admin := relaytest.StartAuth(t, relay.Config{})
	ag, e, _ := claimAgent(t, r, r.Token("stale-token", store.RoleAgent, 0), "a-stale", "stale", nil)
	if e != nil {
		t.Fatal(e)
	}
	cl := dialAdmin(t, r, admin)
	viewer := dialAdmin(t, r, r.Token("watcher", store.RoleViewer, 0))
	ctx := context.Background()
	if _, err := cl.ForgetAgent(ctx, "stale"); err == nil || !strings.Contains(err.Error(), "is connected") {
		t.Fatalf("forgetting a connected agent: %v", err)
	}
	ag.ws.Close()
	relaytest.Eventually(t, 10*time.Second, "the agent offline", func() bool {
		return cl.State().Agents["a-stale"].Status == wire.AgentOffline
	})
	cmds, err := cl.Run(ctx, one("stale"), wire.CommandSpec{Argv: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := viewer.ForgetAgent(ctx, "stale"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("a viewer forgetting: %v", err)
	}
	id, err := cl.ForgetAgent(ctx, "stale")
	if err != nil || id != "a-stale" {
		t.Fatalf("forget: %q %v", id, err)
	}
	relaytest.Eventually(t, 10*time.Second, "the agent gone from both dashboards", func() bool {
		_, a := cl.State().Agents["a-stale"]
		_, b := viewer.State().Agents["a-stale"]
		return !a && !b
	})
	relaytest.Eventually(t, 10*time.Second, "its queued command cancelled", func() bool {
		c := cl.State().Commands[cmds[0].ID]
		return c.State == wire.StateCanceled && strings.Contains(c.Reason, "forgotten")
	})
	// Its name is free; its history stays; it stays forgotten after a restart.
	if _, e, _ := claimAgent(t, r, r.Token("new-token", store.RoleAgent, 0), "a-new", "stale", nil); e != nil {
		t.Fatalf("another token taking the forgotten agent's name: %v", e)
	}
	r.Stop()
	r.Start()
	cl = dialAdmin(t, r, admin)
	if _, ok := cl.State().Agents["a-stale"]; ok {
		t.Error("the forgotten agent came back after a restart")
	}
	h, err := cl.History(ctx, wire.HistoryQuery{CommandID: cmds[0].ID})
	if err != nil || len(h) != 1 {
		t.Errorf("the forgotten agent's command left history: %v %v", h, err)
	}
}
