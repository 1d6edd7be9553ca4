package relay_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/client"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// rawPeer is a hand-written protocol peer: the tests here check what the
// relay does with exactly the bytes a client author might send.
type rawPeer struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRaw(t *testing.T, r *relaytest.Relay, path string) *rawPeer {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(r.URL()+path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { ws.Close() })
	return &rawPeer{t: t, ws: ws}
}

func (p *rawPeer) sendText(s string) {
	p.t.Helper()
	if err := p.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

func (p *rawPeer) send(m wire.Message) { p.sendText(string(wire.MustEncode(m))) }

// next reads the next control message, skipping binary frames.
func (p *rawPeer) next() (wire.Message, error) {
	_ = p.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		kind, data, err := p.ws.ReadMessage()
		if err != nil {
			return nil, err
		}
		if kind == websocket.TextMessage {
			return wire.Decode(data)
		}
	}
}

// expect reads until a message of type T arrives.
func expect[T wire.Message](p *rawPeer) T {
	p.t.Helper()
	for {
		m, err := p.next()
		if err != nil {
			var zero T
			p.t.Fatalf("waiting for %T: %v", zero, err)
		}
		if v, ok := m.(T); ok {
			return v
		}
	}
}

// expectClose reads until the relay closes and returns the close error.
func (p *rawPeer) expectClose() *websocket.CloseError {
	p.t.Helper()
	for {
		_, _, err := p.ws.ReadMessage()
		if err == nil {
			continue
		}
		ce, ok := err.(*websocket.CloseError)
		if !ok {
			p.t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce
	}
}

func helloDashboard(p *rawPeer) {
	p.send(&wire.Hello{Protocol: wire.ProtocolVersion, Client: "raw"})
	expect[*wire.Welcome](p)
	expect[*wire.Snapshot](p)
}

func TestHandshakeRefusals(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	tests := []struct {
		name      string
		path      string
		first     string
		wantCode  int
		wantError string
		wantWords string
	}{
		{"future protocol", wire.DashboardPath, `{"type":"hello","protocol":2}`, wire.CloseUnsupportedVersion, wire.CodeUnsupportedVersion, "protocol version 2 is not supported"},
		{"no hello", wire.DashboardPath, `{"type":"run","targets":{"agents":["x"]},"argv":["ls"]}`, wire.CloseBadHandshake, wire.CodeBadHandshake, "must be hello"},
		{"not json", wire.DashboardPath, `hello?`, wire.CloseBadHandshake, wire.CodeBadHandshake, "bad hello"},
		{"agent without registration", wire.AgentPath, `{"type":"hello","protocol":1}`, wire.CloseBadHandshake, wire.CodeBadHandshake, "must carry"},
		{"agent with bad id", wire.AgentPath, `{"type":"hello","protocol":1,"agent":{"id":"has space","name":"n"}}`, wire.CloseBadHandshake, wire.CodeBadHandshake, "agent id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := dialRaw(t, r, tc.path)
			p.sendText(tc.first)
			e := expect[*wire.Error](p)
			if e.Code != tc.wantError || !strings.Contains(e.Message, tc.wantWords) {
				t.Errorf("error = %+v, want code %s mentioning %q", e, tc.wantError, tc.wantWords)
			}
			ce := p.expectClose()
			if ce.Code != tc.wantCode || !strings.Contains(ce.Text, tc.wantWords) {
				t.Errorf("close = %d %q, want %d mentioning %q", ce.Code, ce.Text, tc.wantCode, tc.wantWords)
			}
		})
	}
}

// TestBadMessagesKeepServing sends malformed, unknown and oversized
// messages; each gets a clear error (the oversized one a 1009 close), and a
// second dashboard is served throughout.
func TestBadMessagesKeepServing(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	ctx := context.Background()
	bystander, err := client.Dial(ctx, client.Config{Relay: r.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer bystander.Close()

	p := dialRaw(t, r, wire.DashboardPath)
	helloDashboard(p)
	cases := []struct {
		send     string
		wantCode string
	}{
		{`{not json`, wire.CodeBadMessage},
		{`{"type":"teleport"}`, wire.CodeUnknownType},
		{`{"no":"type"}`, wire.CodeBadMessage},
		{`{"type":"subscribe","command_id":42}`, wire.CodeBadMessage},
		{`{"type":"subscribe","command_id":"c-1","offset":-5}`, wire.CodeInvalidArgument},
		{`{"type":"subscribe","command_id":"c-nope","offset":0}`, wire.CodeNotFound},
		{`{"type":"run","targets":{},"argv":["ls"]}`, wire.CodeInvalidArgument},
		{`{"type":"run","targets":{"agents":["ghost"]},"argv":["ls"]}`, wire.CodeNoTargets},
		{`{"type":"run","targets":{"agents":["ghost"]},"argv":["ls"],"shell":"ls"}`, wire.CodeInvalidArgument},
		{`{"type":"cancel","command_id":"c-nope"}`, wire.CodeNotFound},
		{`{"type":"welcome","protocol":1}`, wire.CodeBadMessage},
		{`{"type":"history","limit":5000}`, wire.CodeInvalidArgument},
	}
	for _, tc := range cases {
		p.sendText(tc.send)
		e := expect[*wire.Error](p)
		if e.Code != tc.wantCode || e.Message == "" {
			t.Errorf("%s: got %+v, want code %s with a message", tc.send, e, tc.wantCode)
		}
	}
	for _, frame := range [][]byte{{}, {9, 1, 'x'}, {2, 0}, {2, 200, 'x'}} {
		if err := p.ws.WriteMessage(websocket.BinaryMessage, frame); err != nil {
			t.Fatal(err)
		}
		if e := expect[*wire.Error](p); e.Code != wire.CodeBadMessage && e.Code != wire.CodeUnknownType {
			t.Errorf("binary %v: got %+v", frame, e)
		}
	}

	// Oversized: refused with an error that says so, then close 1009.
	big := `{"type":"history","agent":"` + strings.Repeat("x", wire.MaxMessageSize) + `"}`
	p.sendText(big)
	e := expect[*wire.Error](p)
	if e.Code != wire.CodeTooLarge || !strings.Contains(e.Message, "1048576") {
		t.Errorf("oversized: got %+v", e)
	}
	if ce := p.expectClose(); ce.Code != wire.CloseTooBig {
		t.Errorf("oversized: close %d %q, want 1009", ce.Code, ce.Text)
	}

	// The bystander is still served.
	if _, err := bystander.History(ctx, wire.HistoryQuery{}); err != nil {
		t.Fatalf("bystander after abuse: %v", err)
	}
}

func TestHealthz(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	p := dialRaw(t, r, wire.DashboardPath)
	helloDashboard(p)
	resp, err := httpGet(r.HTTPURL() + "/healthz")
	if err != nil || !bytes.Contains(resp, []byte("ok")) {
		t.Fatalf("healthz = %q, %v", resp, err)
	}
}
