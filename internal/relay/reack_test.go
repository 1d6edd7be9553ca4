package relay_test

import (
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// TestReconnectAcknowledgesStoredOutput: an agent whose connection drops
// after its output was stored, but before it read the ack, comes back
// holding that output. welcome.resume asks it for nothing more, and no
// later commit covers those bytes, so unless the relay acknowledges them
// again the agent holds them until the command ends (forever, for a quiet
// session).
func TestReconnectAcknowledgesStoredOutput(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	info := &wire.AgentInfo{ID: "a-reack", Name: "reack", MaxConcurrent: 1}
	first := dialRaw(t, r, wire.AgentPath)
	first.send(&wire.Hello{Protocol: wire.ProtocolVersion, Client: "raw", Agent: info})
	expect[*wire.Welcome](first)
	w := watch(t, r)
	w.waitAgent("reack", wire.AgentIdle)
	w.run(one("reack"), wire.CommandSpec{Argv: []string{"quiet"}})
	id := expect[*wire.Start](first).Command.ID
	first.send(&wire.Started{CommandID: id, PID: 1, StartedAt: time.Now().UTC()})
	out := []byte("stored before the connection dropped\n")
	if err := first.ws.WriteMessage(websocket.BinaryMessage, wire.OutputFrame(id, 0, out)); err != nil {
		t.Fatal(err)
	}
	if ack := expect[*wire.Ack](first); ack.Offset != int64(len(out)) {
		t.Fatalf("first ack = %+v, want offset %d", ack, len(out))
	}
	first.ws.Close() // as if the ack had been lost with the connection

	again := dialRaw(t, r, wire.AgentPath)
	again.send(&wire.Hello{Protocol: wire.ProtocolVersion, Client: "raw", Agent: info,
		Holding: []wire.HeldCommand{{CommandID: id, Offset: int64(len(out))}}})
	welcome := expect[*wire.Welcome](again)
	if len(welcome.Resume) != 1 || welcome.Resume[0].Offset != int64(len(out)) {
		t.Fatalf("welcome.resume = %+v, want %s from %d", welcome.Resume, id, len(out))
	}
	ack := expect[*wire.Ack](again)
	if ack.CommandID != id || ack.Offset != int64(len(out)) || ack.Done {
		t.Fatalf("ack after reconnecting = %+v, want %s up to %d", ack, id, len(out))
	}
}
