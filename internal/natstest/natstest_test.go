package natstest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestRestartKeepsStreams publishes to a JetStream stream, restarts the
// server on its store, and reads every message back, in order; a client
// connected throughout reconnects by itself to the same address.
func TestRestartKeepsStreams(t *testing.T) {
	s := Start(t)
	url := s.URL()
	nc := s.Connect()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		if _, err := js.Publish(ctx, fmt.Sprintf("events.%d", i%3), fmt.Appendf(nil, "message %d", i)); err != nil {
			t.Fatal(err)
		}
	}

	s.Restart()
	if s.URL() != url {
		t.Fatalf("restarted at %s, was %s", s.URL(), url)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatalf("the client did not reconnect to the restarted server: %v", nc.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if nc.Stats().Reconnects == 0 {
		t.Fatal("the client never lost its connection: the server did not restart")
	}

	fresh, err := jetstream.New(s.Connect())
	if err != nil {
		t.Fatal(err)
	}
	stream, err := fresh.Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatalf("stream after the restart: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil || info.State.Msgs != n || info.State.LastSeq != n {
		t.Fatalf("stream after the restart: %+v (%v), want %d messages", info, err, n)
	}
	for seq := uint64(1); seq <= n; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		if want := fmt.Sprintf("message %d", seq-1); string(m.Data) != want || m.Subject != fmt.Sprintf("events.%d", (seq-1)%3) {
			t.Fatalf("message %d: %s %q, want %q", seq, m.Subject, m.Data, want)
		}
	}
	// The stream takes new messages after the old ones.
	ack, err := fresh.Publish(ctx, "events.0", []byte("after"))
	if err != nil || ack.Sequence != n+1 {
		t.Fatalf("publish after the restart: %+v %v", ack, err)
	}
}

// TestStopRefusesClients checks that a stopped server is away (new
// connections refused), and that Start brings it back on the same port.
func TestStopRefusesClients(t *testing.T) {
	s := Start(t)
	s.Stop()
	if s.Running() {
		t.Fatal("running after Stop")
	}
	if nc, err := nats.Connect(s.URL(), nats.Timeout(time.Second)); err == nil {
		nc.Close()
		t.Fatal("a stopped server accepted a client")
	}
	s.Start()
	nc := s.Connect()
	if err := nc.Publish("ping", nil); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("round trip after Start: %v", err)
	}
	if s.Log() == "" {
		t.Fatal("the server logged nothing")
	}
}
