package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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
