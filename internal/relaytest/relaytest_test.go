package relaytest_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"switchboard/internal/agent"
	"switchboard/internal/client"
	"switchboard/internal/pgtest"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/store"
	"switchboard/internal/store/postgres"
	"switchboard/internal/wire"
)

// TestOnPostgres runs a relay with authentication on a PostgreSQL schema:
// the tokens relaytest makes there admit an agent and a dashboard, a
// command's output reaches PostgreSQL (and no SQLite file is made), and a
// second relay on the same schema (without authentication, so the first's
// admin token is not made twice), started once the first has stopped,
// serves the same history and output.
func TestOnPostgres(t *testing.T) {
	pg := pgtest.URL(t)
	r, admin := relaytest.StartAuth(t, relay.Config{}, relaytest.OnPostgres(pg))
	if r.DBPath != "" || r.Store != pg {
		t.Fatalf("DBPath %q, Store %q: want no SQLite file and the PostgreSQL URL", r.DBPath, r.Store)
	}
	agentToken := r.AgentToken("box-token", "box")
	runAgent(t, agent.Config{RelayURL: r.URL(), Token: agentToken, Name: "box", StateDir: t.TempDir()})

	cl := dial(t, r.URL(), admin)
	relaytest.Eventually(t, 30*time.Second, "the agent online", func() bool {
		for _, a := range cl.State().Agents {
			if a.Name == "box" && a.Status == wire.AgentIdle {
				return true
			}
		}
		return false
	})
	cmds, err := cl.Run(context.Background(), wire.Targets{Agents: []string{"box"}}, wire.CommandSpec{Argv: []string{"echo", "stored in postgres"}})
	if err != nil {
		t.Fatal(err)
	}
	id, want := cmds[0].ID, "stored in postgres\r\n"
	relaytest.EventuallyEvery(t, 100*time.Millisecond, 30*time.Second, "the command stored as exited", func() bool {
		c, err := storedCommand(pg, id)
		return err == nil && c.State == wire.StateExited && c.OutputBytes == int64(len(want))
	})
	st, err := postgres.Open(context.Background(), pg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if out, _, err := st.ReadOutput(context.Background(), id, 0, 1<<20); err != nil || string(out) != want {
		t.Fatalf("output in PostgreSQL: %q %v, want %q", out, err, want)
	}
	cl.Close()
	r.Stop()

	other := relaytest.Start(t, relay.Config{}, relaytest.OnPostgres(pg))
	if other.Addr == r.Addr {
		t.Fatalf("the second relay took the first one's address %s", r.Addr)
	}
	cl = dial(t, other.URL(), admin)
	hist, err := cl.History(context.Background(), wire.HistoryQuery{CommandID: id})
	if err != nil || len(hist) != 1 || hist[0].State != wire.StateExited {
		t.Fatalf("history on the second relay: %+v %v", hist, err)
	}
	if err := cl.Subscribe(id, 0); err != nil {
		t.Fatal(err)
	}
	// The bytes, not output.end: a relay does not yet end a subscription
	// to a final command it restored from the store.
	var got strings.Builder
	for deadline := time.After(30 * time.Second); got.String() != want; {
		select {
		case ev := <-cl.Events():
			if o, ok := ev.(client.Output); ok && o.CommandID == id {
				got.Write(o.Data)
			}
		case <-deadline:
			t.Fatalf("output from the second relay: %q, want %q", got.String(), want)
		}
	}
}

func runAgent(t *testing.T, cfg agent.Config) {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func dial(t *testing.T, url, token string) *client.Client {
	t.Helper()
	cl, err := client.Dial(context.Background(), client.Config{Relay: url, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func storedCommand(pg, id string) (wire.Command, error) {
	st, err := postgres.Open(context.Background(), pg)
	if err != nil {
		return wire.Command{}, err
	}
	defer st.Close()
	cmds, err := st.History(context.Background(), store.HistoryQuery{ID: id})
	if err != nil || len(cmds) == 0 {
		return wire.Command{}, err
	}
	return cmds[0], nil
}
