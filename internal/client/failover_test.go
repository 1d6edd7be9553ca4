package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"switchboard/internal/agent"
	"switchboard/internal/client"
	"switchboard/internal/pgtest"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/store/postgres"
	"switchboard/internal/wire"
)

// TestFailoverBetweenRelays: two relays serve one PostgreSQL schema in
// turn; an agent and a client are each given both. The relay they are on
// stops mid-stream and the other starts: the client moves to it by
// itself, says so (ConnState.From), and resubscribes from the offset it
// had; then back again. The client sees every byte of the command once,
// in order, and PostgreSQL holds the same bytes.
func TestFailoverBetweenRelays(t *testing.T) {
	pg := pgtest.URL(t)
	a := relaytest.Start(t, relay.Config{}, relaytest.OnPostgres(pg))
	a.Stop()
	b := relaytest.Start(t, relay.Config{}, relaytest.OnPostgres(pg)) // for its address
	b.Stop()
	a.Start()
	runAgent(t, agent.Config{RelayURL: a.URL(), RelayURLs: []string{b.URL()}, Name: "box"})

	cl, err := client.Dial(context.Background(), client.Config{Relay: a.URL(), Relays: []string{b.URL()}, Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitAgentIdle(t, cl, "box")
	const n = 1500
	cmds, err := cl.Run(context.Background(), wire.Targets{Agents: []string{"box"}},
		wire.CommandSpec{Shell: fmt.Sprintf("i=1; while [ $i -le %d ]; do echo line $i; i=$((i+1)); sleep 0.002; done", n)})
	if err != nil {
		t.Fatal(err)
	}
	id := cmds[0].ID
	if err := cl.Subscribe(id, 0); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	var moves []client.ConnState
	collect := func(until string) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for until == "" || !strings.Contains(got.String(), until) {
			select {
			case ev := <-cl.Events():
				switch ev := ev.(type) {
				case client.Output:
					if ev.Offset != int64(got.Len()) {
						t.Fatalf("output at offset %d, have %d bytes", ev.Offset, got.Len())
					}
					got.Write(ev.Data)
				case client.ConnState:
					if ev.State == client.Connected && ev.From != "" {
						moves = append(moves, ev)
					}
				case client.OutputEnd:
					if until == "" && ev.CommandID == id {
						return
					}
				}
			case <-deadline:
				t.Fatalf("timed out waiting for %q; have %d bytes", until, got.Len())
			}
		}
	}
	collect("line 200\r\n")
	a.Stop()
	b.Start()
	collect("line 700\r\n")
	if len(moves) != 1 || !strings.Contains(moves[0].Relay, b.Addr) || !strings.Contains(moves[0].From, a.Addr) {
		t.Fatalf("moves %+v, want one from %s to %s", moves, a.Addr, b.Addr)
	}
	if !strings.Contains(cl.Relay(), b.Addr) {
		t.Fatalf("on %q, want %s", cl.Relay(), b.Addr)
	}
	b.Stop()
	a.Start()
	collect("")
	var want strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&want, "line %d\r\n", i)
	}
	if got.String() != want.String() {
		t.Fatalf("the client got %d bytes, want the %d the command wrote", got.Len(), want.Len())
	}
	if len(moves) != 2 || !strings.Contains(moves[1].Relay, a.Addr) {
		t.Fatalf("moves %+v, want a second one back to %s", moves, a.Addr)
	}
	st, err := postgres.Open(context.Background(), pg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	relaytest.Eventually(t, 20*time.Second, "the output stored whole", func() bool {
		stored, _, err := st.ReadOutput(context.Background(), id, 0, 1<<20)
		return err == nil && string(stored) == want.String()
	})
}

// TestDialTriesEachRelay: of the relays given, Dial takes the first that
// answers; when none does, its error names each one's failure.
func TestDialTriesEachRelay(t *testing.T) {
	down := relaytest.Start(t, relay.Config{})
	down.Stop()
	up := relaytest.Start(t, relay.Config{})
	cl, err := client.Dial(context.Background(), client.Config{Relay: down.URL(), Relays: []string{up.URL(), down.URL()}})
	if err != nil {
		t.Fatalf("dial with the first relay down: %v", err)
	}
	if !strings.Contains(cl.Relay(), up.Addr) {
		t.Errorf("connected to %q, want %s", cl.Relay(), up.Addr)
	}
	cl.Close()

	other := relaytest.Start(t, relay.Config{})
	other.Stop()
	up.Stop()
	for _, reconnect := range []bool{false, true} {
		_, err = client.Dial(context.Background(), client.Config{Relay: down.URL(), Relays: []string{other.URL()},
			Reconnect: reconnect, ConnectFirst: true})
		if err == nil || !strings.Contains(err.Error(), down.Addr) || !strings.Contains(err.Error(), other.Addr) ||
			strings.Count(client.Reason(err), "connection refused") != 1 {
			t.Fatalf("reconnect %v: dial with every relay down: %v (reason %q)", reconnect, err, client.Reason(err))
		}
	}
	if _, err := client.Dial(context.Background(), client.Config{Relay: up.URL(), Relays: []string{"http//nowhere"}}); err == nil ||
		!strings.Contains(err.Error(), "http//nowhere") {
		t.Fatalf("a bad address among the relays: %v", err)
	}
}

// TestRefusalEndsDialOnEveryRelay: a relay's refusal of the hello ends
// Dial without trying the others: relays of one system share tokens, so
// they would refuse it too.
func TestRefusalEndsDialOnEveryRelay(t *testing.T) {
	r, _ := relaytest.StartAuth(t, relay.Config{})
	other := relaytest.Start(t, relay.Config{})
	cl, err := client.Dial(context.Background(), client.Config{Relay: r.URL(), Relays: []string{other.URL()}, Token: "sbt_bogus", Reconnect: true})
	var e *wire.Error
	if !errors.As(err, &e) || e.Code != wire.CodeUnauthorized {
		if cl != nil {
			cl.Close()
		}
		t.Fatalf("dial with a bad token: %v", err)
	}
}

// runAgent runs an in-process agent until the test ends.
func runAgent(t *testing.T, cfg agent.Config) {
	t.Helper()
	cfg.StateDir = t.TempDir()
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

// waitAgentIdle reads cl's events until the agent named name is idle.
func waitAgentIdle(t *testing.T, cl *client.Client, name string) {
	t.Helper()
	idle := func() bool {
		for _, ag := range cl.State().Agents {
			if ag.Name == name && ag.Status == wire.AgentIdle {
				return true
			}
		}
		return false
	}
	for wait := time.After(30 * time.Second); !idle(); {
		select {
		case <-cl.Events():
		case <-wait:
			t.Fatalf("agent %s never came online", name)
		}
	}
}

// TestRetryWaitGrowsPerRound: with every relay down, each relay of a
// round is tried after the same wait, and the wait doubles once the round
// is over, so moving to the next relay costs no more than retrying one.
func TestRetryWaitGrowsPerRound(t *testing.T) {
	a := relaytest.Start(t, relay.Config{})
	b := relaytest.Start(t, relay.Config{})
	a.Stop()
	b.Stop()
	cl, err := client.Dial(context.Background(), client.Config{Relay: a.URL(), Relays: []string{b.URL()}, Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var waits []client.ConnState
	for len(waits) < 6 {
		select {
		case ev := <-cl.Events():
			if cs, ok := ev.(client.ConnState); ok && cs.State == client.Reconnecting {
				waits = append(waits, cs)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d attempts", len(waits))
		}
	}
	for i, cs := range waits {
		bound := (100 * time.Millisecond) << (i / 2) // 100, 100, 200, 200, 400, 400 ms
		addr := a.Addr
		if i%2 == 1 {
			addr = b.Addr
		}
		if cs.RetryIn < bound/2 || cs.RetryIn > bound || !strings.Contains(cs.Relay, addr) {
			t.Fatalf("attempt %d: %s to %s, want %s..%s to %s", i, cs.RetryIn, cs.Relay, bound/2, bound, addr)
		}
	}
}
