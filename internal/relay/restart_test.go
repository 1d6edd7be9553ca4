package relay_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/internal/agent"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// lastError is the newest error the watcher saw, or "".
func (w *watcher) lastError() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errors) == 0 {
		return ""
	}
	return w.errors[len(w.errors)-1]
}

func (w *watcher) waitError(code string) string {
	w.t.Helper()
	relaytest.Eventually(w.t, waitLong, "error "+code, func() bool { return strings.HasPrefix(w.lastError(), code+": ") })
	return w.lastError()
}

// TestRestartSession: an operator restarts an agent's session from a
// dashboard; the old one ends cancelled, a new one runs and takes input;
// viewers may not, agents without a session or offline say so, and the
// audit trail has it.
func TestRestartSession(t *testing.T) {
	r, admin := relaytest.StartAuth(t, relay.Config{})
	ops := watchAs(t, r, r.Token("ops", store.RoleOperator, 0))
	sessToken, boxToken := r.Token("sess-agent", store.RoleAgent, 0), r.Token("box-agent", store.RoleAgent, 0)
	sess := startAgent(t, r, "sess", func(c *agent.Config) { c.Token, c.Session = sessToken, []string{"cat"} })
	startAgent(t, r, "box", func(c *agent.Config) { c.Token = boxToken })
	ops.waitAgent("box", wire.AgentIdle)
	old := ops.waitSession("sess")
	if got := ops.cl.State().Agents[old.AgentID].Session; !slices.Equal(got, []string{"cat"}) {
		t.Fatalf("agent sess registered session %q, want [cat]", got)
	}

	if err := ops.cl.RestartSession("sess"); err != nil {
		t.Fatal(err)
	}
	relaytest.Eventually(t, waitLong, "the old session to end", func() bool { return ops.command(old.ID).State.Final() })
	if c := ops.command(old.ID); c.State != wire.StateCanceled || c.Reason != "restarted from a dashboard" {
		t.Errorf("old session ended %s (%q), want cancelled, restarted from a dashboard", c.State, c.Reason)
	}
	fresh := ops.waitSession("sess")
	if fresh.ID == old.ID {
		t.Fatal("the restarted session has the old one's id")
	}
	if err := ops.cl.Subscribe(fresh.ID, 0); err != nil {
		t.Fatal(err)
	}
	if err := ops.cl.Input(fresh.ID, []byte("again\r")); err != nil {
		t.Fatal(err)
	}
	relaytest.Eventually(t, waitLong, "the new session to echo", func() bool { return strings.Count(ops.out(fresh.ID), "again") >= 2 })

	for name, tc := range map[string]struct{ agent, code, words string }{
		"no session":    {"box", wire.CodeInvalidArgument, "runs no session program"},
		"unknown agent": {"nobody", wire.CodeNotFound, "no agent"},
	} {
		if err := ops.cl.RestartSession(tc.agent); err != nil {
			t.Fatal(err)
		}
		if e := ops.waitError(tc.code); !strings.Contains(e, tc.words) {
			t.Errorf("%s: %s, want it to say %q", name, e, tc.words)
		}
	}
	viewer := watchAs(t, r, r.Token("eyes", store.RoleViewer, 0))
	if err := viewer.cl.RestartSession("sess"); err != nil {
		t.Fatal(err)
	}
	viewer.waitError(wire.CodeForbidden)
	sess.Stop()
	ops.waitAgent("sess", wire.AgentOffline)
	if err := ops.cl.RestartSession("sess"); err != nil {
		t.Fatal(err)
	}
	ops.waitError(wire.CodeNotRunning)

	auditor := watchAs(t, r, admin)
	var entries []wire.AuditEntry
	relaytest.Eventually(t, waitLong, "the restart in the audit trail", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		entries, _ = auditor.cl.Audit(ctx, 100)
		return slices.ContainsFunc(entries, func(e wire.AuditEntry) bool {
			return e.Action == "restart_session" && e.Token == "ops" && e.Result == "ok" && e.Subject == old.AgentID
		})
	})
	if !slices.ContainsFunc(entries, func(e wire.AuditEntry) bool {
		return e.Action == "restart_session" && e.Token == "eyes" && e.Result == "denied"
	}) {
		t.Errorf("the viewer's refused restart is not in the audit trail: %+v", entries)
	}
}
