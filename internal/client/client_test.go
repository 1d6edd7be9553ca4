package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"switchboard/internal/agent"
	"switchboard/internal/client"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// TestDialBeforeRelayStarts: with Reconnect, a relay that is not up yet is
// retried, and the client says so, then connects when it comes.
func TestDialBeforeRelayStarts(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	r.Stop()
	cl, err := client.Dial(context.Background(), client.Config{Relay: r.URL(), Reconnect: true})
	if err != nil {
		t.Fatalf("dial with the relay down: %v", err)
	}
	defer cl.Close()
	want := client.Reconnecting
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-cl.Events():
			cs, ok := ev.(client.ConnState)
			if !ok {
				continue
			}
			if cs.State == client.Reconnecting && want == client.Connected {
				continue // a retry that failed before the relay came up
			}
			if cs.State != want {
				t.Fatalf("state %s (%v), want %s", cs.State, cs.Err, want)
			}
			if want == client.Connected {
				if _, err := cl.History(context.Background(), wire.HistoryQuery{}); err != nil {
					t.Fatal(err)
				}
				return
			}
			r.Start()
			want = client.Connected
		case <-deadline:
			t.Fatalf("no %s event", want)
		}
	}
}

// TestRefusalIsFinal: a relay's refusal (a bad token) ends Dial at once,
// even with Reconnect, and says why.
func TestRefusalIsFinal(t *testing.T) {
	r, _ := relaytest.StartAuth(t, relay.Config{})
	_, err := client.Dial(context.Background(), client.Config{Relay: r.URL(), Token: "sbt_bogus", Reconnect: true})
	var e *wire.Error
	if !errors.As(err, &e) || e.Code != wire.CodeUnauthorized || !strings.Contains(err.Error(), "unknown token") {
		t.Fatalf("dial with a bad token: %v", err)
	}
}

// TestNoReconnectEndsOnDisconnect: without Reconnect, the client ends when
// the relay goes away, closes Events and reports why.
func TestNoReconnectEndsOnDisconnect(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	cl, err := client.Dial(context.Background(), client.Config{Relay: r.URL()})
	if err != nil {
		t.Fatal(err)
	}
	r.Stop()
	for range cl.Events() {
	}
	<-cl.Done()
	if cl.Err() == nil {
		t.Fatal("no error after the relay went away")
	}
	if _, err := cl.History(context.Background(), wire.HistoryQuery{}); !errors.Is(err, client.ErrClosed) {
		t.Errorf("history after the end: %v, want ErrClosed", err)
	}
}

// TestResubscribeLosesNothing: a client that unsubscribes in the middle of
// a flood, lets a moment pass (frames already on their way arrive and are
// dropped), and subscribes again from the last byte it had gets the rest
// with no gap: frames of the first subscription that arrive after the
// second subscribe are told apart by the relay's subscribed marker.
func TestResubscribeLosesNothing(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	a, err := agent.New(agent.Config{RelayURL: r.URL(), Name: "box", StateDir: t.TempDir(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	cl, err := client.Dial(context.Background(), client.Config{Relay: r.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	idle := func() bool {
		for _, ag := range cl.State().Agents {
			if ag.Name == "box" && ag.Status == wire.AgentIdle {
				return true
			}
		}
		return false
	}
	for wait := time.After(30 * time.Second); !idle(); {
		select {
		case <-cl.Events():
		case <-wait:
			t.Fatal("the agent never came online")
		}
	}
	const n = 300000
	cmds, err := cl.Run(context.Background(), wire.Targets{Agents: []string{"box"}}, wire.CommandSpec{Shell: fmt.Sprintf("seq 1 %d", n)})
	if err != nil {
		t.Fatal(err)
	}
	id := cmds[0].ID
	if err := cl.Subscribe(id, 0); err != nil {
		t.Fatal(err)
	}
	var got []byte
	resubscribed := false
	deadline := time.After(60 * time.Second)
	for {
		select {
		case ev := <-cl.Events():
			switch ev := ev.(type) {
			case client.Output:
				if ev.CommandID != id {
					continue
				}
				// Events already queued when it subscribed again repeat
				// what follows; a gap would be lost output.
				if ev.Offset > int64(len(got)) {
					t.Fatalf("output at %d after %d bytes: %d bytes lost", ev.Offset, len(got), ev.Offset-int64(len(got)))
				}
				if end := ev.Offset + int64(len(ev.Data)); end > int64(len(got)) {
					got = append(got, ev.Data[int64(len(got))-ev.Offset:]...)
				}
				if !resubscribed && len(got) > 64<<10 {
					resubscribed = true
					if err := cl.Unsubscribe(id); err != nil {
						t.Fatal(err)
					}
					time.Sleep(2 * time.Millisecond)
					if err := cl.Subscribe(id, int64(len(got))); err != nil {
						t.Fatal(err)
					}
				}
			case client.OutputEnd:
				if ev.CommandID != id {
					continue
				}
				var want strings.Builder
				for i := 1; i <= n; i++ {
					fmt.Fprintf(&want, "%d\r\n", i)
				}
				if string(got) != want.String() || ev.Offset != int64(len(got)) {
					t.Fatalf("%d bytes, end at %d; want the %d bytes seq printed", len(got), ev.Offset, want.Len())
				}
				return
			}
		case <-deadline:
			t.Fatalf("no end after %d bytes", len(got))
		}
	}
}
