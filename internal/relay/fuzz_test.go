package relay_test

import (
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// FuzzDashboardMessages sends arbitrary bytes, as text and as binary, on a
// live dashboard connection. The relay must answer every one (an error is
// an answer), keep the connection open, and keep serving.
func FuzzDashboardMessages(f *testing.F) {
	for _, seed := range []string{
		`{"type":"run","targets":{"agents":["x"]},"argv":["ls"]}`, `{"type":"subscribe","command_id":"c","offset":-1}`,
		`{"type":"history","limit":99999999999999999999}`, `{"type":"resize","command_id":"c","cols":0,"rows":1e9}`,
		`{"type":"cancel"}`, `{"type":"hello","protocol":1}`, `{"type":"audit"}`, `{"type":"ack","offset":5}`,
		"\x01\x01c\x00\x00\x00\x00\x00\x00\x00\x00x", "\x02\x01cinput", "\x02\xffc", `[]`, `null`, `{"type":"run","argv":{}}`,
	} {
		f.Add([]byte(seed))
	}
	r := relaytest.Start(f, relay.Config{})
	ws, _, err := websocket.DefaultDialer.Dial(r.URL()+wire.DashboardPath, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, wire.MustEncode(&wire.Hello{Protocol: wire.ProtocolVersion})); err != nil {
		f.Fatal(err)
	}
	probe := wire.MustEncode(&wire.HistoryQuery{RequestID: "probe", Limit: 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, kind := range []int{websocket.TextMessage, websocket.BinaryMessage} {
			if err := ws.WriteMessage(kind, data); err != nil {
				t.Fatalf("write: %v", err)
			}
			if err := ws.WriteMessage(websocket.TextMessage, probe); err != nil {
				t.Fatalf("write probe: %v", err)
			}
			// Read until the probe's answer: the relay is alive and the
			// connection still open.
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				_, msg, err := ws.ReadMessage()
				if err != nil {
					t.Fatalf("relay stopped answering after %q: %v", data, err)
				}
				if m, err := wire.Decode(msg); err == nil {
					if h, ok := m.(*wire.HistoryResult); ok && h.RequestID == "probe" {
						break
					}
				}
			}
		}
	})
}
