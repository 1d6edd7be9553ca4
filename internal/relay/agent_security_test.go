package relay_test

// The agent's own protections (--ca, --allow, --no-input) against the
// real relay: what an operator configures on a machine holds whatever a
// dashboard asks for.

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/agent"
	"switchboard/internal/client"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/store"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/tlsconf"
	"switchboard/internal/wire"
)

// runAgentConfig runs a real agent with cfg until the test ends, and
// returns its log.
func runAgentConfig(t *testing.T, cfg agent.Config) *lockedBuffer {
	t.Helper()
	logs := &lockedBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.StateDir, cfg.CancelGrace = t.TempDir(), time.Second
	cfg.ReconnectMin, cfg.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("agent %s log:\n%s", cfg.Name, logs.String())
		}
	})
	return logs
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAgentOverTLS: an agent trusting the relay's CA (--ca) connects over
// wss and runs commands; one that does not trust it never registers.
func TestAgentOverTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, cert := relaytest.ServerCert(t, dir)
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	quiet := slog.New(slog.DiscardHandler)
	rl, err := relay.New(context.Background(), relay.Config{NoAuth: true, Logger: quiet}, st)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(rl.Handler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError) // the untrusting agent's failed handshakes
	srv.StartTLS()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = rl.Run(ctx); close(done) }()
	// Registered first, so it runs last: after the agents have stopped.
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	url := "wss://" + srv.Listener.Addr().String()

	trust, err := tlsconf.Client(caFile)
	if err != nil {
		t.Fatal(err)
	}
	runAgentConfig(t, agent.Config{RelayURL: url, Name: "tls-box", TLS: trust})
	untrusting := runAgentConfig(t, agent.Config{RelayURL: url, Name: "no-ca"})

	dialer, err := client.TLSDialer(caFile)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.Dial(context.Background(), client.Config{Relay: url, Dialer: dialer})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	agentNamed := func(name string) *wire.Agent {
		for _, a := range cl.State().Agents {
			if a.Name == name {
				return &a
			}
		}
		return nil
	}
	relaytest.Eventually(t, waitLong, "the agent online over wss", func() bool {
		a := agentNamed("tls-box")
		return a != nil && a.Status == wire.AgentIdle
	})
	cmds, err := cl.Run(context.Background(), one("tls-box"), wire.CommandSpec{Argv: []string{"echo", "over tls"}})
	if err != nil {
		t.Fatal(err)
	}
	relaytest.Eventually(t, waitLong, "the command to end", func() bool { return cl.State().Commands[cmds[0].ID].State.Final() })
	if c := cl.State().Commands[cmds[0].ID]; c.State != wire.StateExited || c.OutputBytes != int64(len("over tls\r\n")) {
		t.Fatalf("command over tls: %+v", c)
	}

	relaytest.Eventually(t, waitLong, "the untrusting agent to fail verification", func() bool {
		return strings.Contains(untrusting.String(), "certificate signed by unknown authority")
	})
	if agentNamed("no-ca") != nil {
		t.Fatal("an agent that does not trust the relay's certificate registered")
	}
}

// TestAgentAllowList: a command outside the agent's --allow patterns is
// rejected before it starts; the dashboard sees the reason, and so does
// the audit trail. An allowed command runs.
func TestAgentAllowList(t *testing.T) {
	r, admin := relaytest.StartAuth(t, relay.Config{})
	runAgentConfig(t, agent.Config{RelayURL: r.URL(), Name: "guarded",
		Token: r.Token("guarded-agent", store.RoleAgent, 0), Allow: []string{"echo *", "true"}})
	cl, err := client.Dial(context.Background(), client.Config{Relay: r.URL(), Token: admin, Client: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	relaytest.Eventually(t, waitLong, "the agent online", func() bool {
		for _, a := range cl.State().Agents {
			if a.Name == "guarded" && a.Status == wire.AgentIdle {
				return true
			}
		}
		return false
	})
	runTo := func(spec wire.CommandSpec) wire.Command {
		t.Helper()
		cmds, err := cl.Run(context.Background(), one("guarded"), spec)
		if err != nil {
			t.Fatal(err)
		}
		id := cmds[0].ID
		relaytest.Eventually(t, waitLong, "command "+id+" to end", func() bool { return cl.State().Commands[id].State.Final() })
		return cl.State().Commands[id]
	}

	marker := filepath.Join(t.TempDir(), "ran")
	c := runTo(wire.CommandSpec{Shell: "touch " + marker})
	reason := `not allowed on this agent: "touch ` + marker + `" matches no --allow pattern`
	if c.State != wire.StateRejected || c.Reason != reason || !c.StartedAt.IsZero() {
		t.Fatalf("disallowed command: %+v; want rejected with %q", c, reason)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the disallowed command ran: %v", err)
	}
	if c := runTo(wire.CommandSpec{Argv: []string{"echo", "fine"}}); c.State != wire.StateExited || *c.ExitCode != 0 {
		t.Fatalf("allowed command: %+v", c)
	}

	var entries []wire.AuditEntry
	relaytest.Eventually(t, waitLong, "the rejection in the audit trail", func() bool {
		entries, err = cl.Audit(context.Background(), 100)
		for _, e := range entries {
			if e.Subject == c.ID && strings.Contains(e.Detail, reason) {
				return true
			}
		}
		return false
	})
}

// TestAgentNoInput: dashboards see that the agent takes no input, and
// what they type never reaches the command's terminal; resizing still
// works.
func TestAgentNoInput(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	runAgentConfig(t, agent.Config{RelayURL: r.URL(), Name: "watch-only", NoInput: true})
	w := watch(t, r)
	w.waitAgent("watch-only", wire.AgentIdle)
	for _, a := range w.cl.State().Agents {
		if a.Name == "watch-only" && !a.NoInput {
			t.Fatalf("dashboards see agent %+v, want no_input", a)
		}
	}
	// The shell prints the terminal size when it changes, and exits.
	cmds := w.run(one("watch-only"), wire.CommandSpec{Shell: `trap 'stty size; exit 0' WINCH; while :; do sleep 0.02; done`})
	id := cmds[0].ID
	relaytest.Eventually(t, waitLong, "running", func() bool { return w.command(id).State == wire.StateRunning })
	// The relay and the agent keep the order: input, then resize. Input
	// that reached the terminal would be echoed before the size.
	if err := w.cl.Input(id, []byte("typed\r")); err != nil {
		t.Fatal(err)
	}
	if err := w.cl.Resize(id, 90, 33); err != nil {
		t.Fatal(err)
	}
	c := w.waitEnd(id)
	if out := w.out(id); out != "33 90\r\n" || c.State != wire.StateExited {
		t.Fatalf("output %q, state %s; want only the new size", out, c.State)
	}
	// The relay itself refuses the input, saying why.
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errors) == 0 || !strings.Contains(w.errors[0], "forbidden: agent watch-only does not accept input") {
		t.Errorf("dashboard errors %v, want a forbidden input error", w.errors)
	}
}
