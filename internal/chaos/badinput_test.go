package chaos

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/client"
	"switchboard/internal/proctest"
	"switchboard/internal/wire"
)

// peer is a hand-driven connection for the bad-input corpus.
type peer struct {
	t      *testing.T
	ws     *websocket.Conn
	probes int
}

func dialPeer(t *testing.T, url string) *peer {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { ws.Close() })
	return &peer{t: t, ws: ws}
}

// helloPeer connects and completes the handshake as agent info (nil for a
// dashboard).
func helloPeer(t *testing.T, url string, agent *wire.AgentInfo) *peer {
	t.Helper()
	ws := dialHello(t, url, &wire.Hello{Protocol: wire.ProtocolVersion, Client: "chaos-corpus", Agent: agent})
	t.Cleanup(func() { ws.Close() })
	return &peer{t: t, ws: ws}
}

func (p *peer) write(kind int, data []byte) {
	p.t.Helper()
	_ = p.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := p.ws.WriteMessage(kind, data); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

func (p *peer) text(s string)             { p.t.Helper(); p.write(websocket.TextMessage, []byte(s)) }
func (p *peer) binary(b []byte)           { p.t.Helper(); p.write(websocket.BinaryMessage, b) }
func (p *peer) send(m wire.Message)       { p.t.Helper(); p.write(websocket.TextMessage, wire.MustEncode(m)) }
func (p *peer) raw(b []byte) (int, error) { return p.ws.NetConn().Write(b) }

// until reads messages until match accepts one, failing on a close.
func (p *peer) until(what string, match func(kind int, m wire.Message, data []byte) bool) {
	p.t.Helper()
	_ = p.ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		kind, data, err := p.ws.ReadMessage()
		if err != nil {
			p.t.Fatalf("waiting for %s: %v", what, err)
		}
		var m wire.Message
		if kind == websocket.TextMessage {
			m, _ = wire.Decode(data)
		}
		if match(kind, m, data) {
			return
		}
	}
}

// expectError waits for an error reply with one of codes.
func (p *peer) expectError(codes ...string) string {
	p.t.Helper()
	var got string
	p.until("error "+strings.Join(codes, " or "), func(_ int, m wire.Message, _ []byte) bool {
		e, ok := m.(*wire.Error)
		if ok && !slices.Contains(codes, e.Code) {
			p.t.Fatalf("error %s (%s), want %v", e.Code, e.Message, codes)
		}
		if ok {
			got = e.Code
		}
		return ok
	})
	return got
}

// expectClose waits for the relay to close the connection and returns the
// close code, 0 when it ended without a close frame.
func (p *peer) expectClose() int {
	p.t.Helper()
	_ = p.ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		_, _, err := p.ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			p.t.Fatalf("the relay did not close the connection: %v", err)
		}
		return 0
	}
}

// probeDashboard checks the connection still works: a history request is
// answered.
func (p *peer) probeDashboard() {
	p.t.Helper()
	p.probes++
	id := fmt.Sprintf("probe-%d", p.probes)
	p.send(&wire.HistoryQuery{RequestID: id, Limit: 1})
	p.until("probe answer", func(_ int, m wire.Message, _ []byte) bool {
		h, ok := m.(*wire.HistoryResult)
		return ok && h.RequestID == id
	})
}

// probeAgent checks an agent connection still works: the exit of a
// command the relay does not know is acknowledged as done.
func (p *peer) probeAgent() {
	p.t.Helper()
	p.probes++
	id := fmt.Sprintf("probe-%d", p.probes)
	p.send(&wire.Exited{CommandID: id, State: wire.StateExited})
	p.until("probe ack", func(_ int, m wire.Message, _ []byte) bool {
		a, ok := m.(*wire.Ack)
		return ok && a.CommandID == id && a.Done
	})
}

// wsFrame builds one client WebSocket frame by hand: b0 is FIN, RSV and
// opcode; the mask key is zero, so the payload goes as is. A declared
// length other than len(payload) makes a truncated frame.
func wsFrame(b0 byte, masked bool, declared int, payload []byte) []byte {
	f := []byte{b0, 0}
	switch {
	case declared < 126:
		f[1] = byte(declared)
	case declared < 1<<16:
		f[1] = 126
		f = binary.BigEndian.AppendUint16(f, uint16(declared))
	default:
		f[1] = 127
		f = binary.BigEndian.AppendUint64(f, uint64(declared))
	}
	if masked {
		f[1] |= 0x80
		f = append(f, 0, 0, 0, 0)
	}
	return append(f, payload...)
}

func outFrame(id string, offset uint64, data string) []byte {
	b := []byte{wire.FrameOutput, byte(len(id))}
	b = append(b, id...)
	b = binary.BigEndian.AppendUint64(b, offset)
	return append(b, data...)
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestBadInput is scenario 6: a corpus of malformed and hostile input on
// both endpoints — truncated frames, invalid JSON, wrong field types, huge
// numbers, negative offsets, unknown and replayed ids, binary where text
// belongs, messages before the handshake, broken WebSocket framing. Each
// must get an error reply (and the connection keeps working) or a clean
// close. Meanwhile a bystander agent streams a command to a bystander
// dashboard: its state and output must come through untouched, and the
// relay must neither panic (its log is checked) nor die.
func TestBadInput(t *testing.T) {
	noLeaks(t)
	addr, db := proctest.FreeAddr(t), filepath.Join(t.TempDir(), "sb.db")
	relay := startRelay(t, addr, db)
	idle := relay.idleUsage(t)
	dashURL, agentURL := relay.url()+wire.DashboardPath, relay.url()+wire.AgentPath

	// A connection that never says hello is closed after the handshake
	// timeout (10 s). It reads all along, as a real peer would, so that
	// it answers the relay's pings and sees the close frame.
	silent := dialPeer(t, dashURL)
	silentSince := time.Now()
	silentClose := make(chan int, 1)
	var silentFor time.Duration
	go func() {
		code := 0
		for {
			_, _, err := silent.ws.ReadMessage()
			if err == nil {
				continue
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				code = ce.Code
			}
			silentFor = time.Since(silentSince)
			silentClose <- code
			return
		}
	}()

	ag := start(t, "agent", "--relay", relay.url(), "--name", "bystander", "--state-dir", t.TempDir(), "--log-level", "warn")
	dash := follow(t, relay.url(), client.Config{Client: "bystander"})
	waitFor(t, 30*time.Second, "bystander agent online", func() bool { return dash.online("bystander") })
	done := dash.run("bystander", wire.CommandSpec{Argv: []string{"true"}})
	dash.subscribe(done.ID)
	dash.waitEnd(done.ID, 30*time.Second)
	stream := newProducer(t, "bystander")
	by := dash.run("bystander", stream.untilStopped(1024, 50*time.Millisecond))
	dash.subscribe(by.ID)
	byWatch := followStrict(t, relay.url(), by.ID)
	waitFor(t, 30*time.Second, "bystander streaming", func() bool { return dash.size(by.ID) > 0 })
	bystanderID, _ := dash.agent("bystander")

	huge := strings.Repeat("x", wire.MaxMessageSize+1)
	agentInfo := func(name string) *wire.AgentInfo {
		return &wire.AgentInfo{ID: "a-" + name, Name: name, MaxConcurrent: 1}
	}
	closes := map[string]int{}

	// Before the handshake: every one is refused with a close that says why.
	preHandshake := []struct {
		name, url string
		kind      int
		msg       string
		code      int
	}{
		{"dashboard: binary before hello", dashURL, websocket.BinaryMessage, "\x01\x01c\x00\x00\x00\x00\x00\x00\x00\x00x", wire.CloseBadHandshake},
		{"dashboard: invalid JSON before hello", dashURL, websocket.TextMessage, `{"type":`, wire.CloseBadHandshake},
		{"dashboard: empty message before hello", dashURL, websocket.TextMessage, ``, wire.CloseBadHandshake},
		{"dashboard: subscribe before hello", dashURL, websocket.TextMessage, `{"type":"subscribe","command_id":"` + by.ID + `"}`, wire.CloseBadHandshake},
		{"dashboard: protocol of the wrong type", dashURL, websocket.TextMessage, `{"type":"hello","protocol":"1"}`, wire.CloseBadHandshake},
		{"dashboard: huge protocol number", dashURL, websocket.TextMessage, `{"type":"hello","protocol":1e300}`, wire.CloseBadHandshake},
		{"dashboard: protocol 2", dashURL, websocket.TextMessage, `{"type":"hello","protocol":2}`, wire.CloseUnsupportedVersion},
		{"dashboard: negative protocol", dashURL, websocket.TextMessage, `{"type":"hello","protocol":-1}`, wire.CloseUnsupportedVersion},
		{"dashboard: too large before hello", dashURL, websocket.TextMessage, huge, wire.CloseTooBig},
		{"agent: output frame before hello", agentURL, websocket.BinaryMessage, string(outFrame(by.ID, 0, "EVIL")), wire.CloseBadHandshake},
		{"agent: hello without agent", agentURL, websocket.TextMessage, `{"type":"hello","protocol":1}`, wire.CloseBadHandshake},
		{"agent: agent of the wrong type", agentURL, websocket.TextMessage, `{"type":"hello","protocol":1,"agent":"me"}`, wire.CloseBadHandshake},
		{"agent: id with a space", agentURL, websocket.TextMessage, `{"type":"hello","protocol":1,"agent":{"id":"a b","name":"x"}}`, wire.CloseBadHandshake},
		{"agent: id of 300 bytes", agentURL, websocket.TextMessage, `{"type":"hello","protocol":1,"agent":{"id":"` + strings.Repeat("i", 300) + `","name":"x"}}`, wire.CloseBadHandshake},
		{"agent: empty name", agentURL, websocket.TextMessage, `{"type":"hello","protocol":1,"agent":{"id":"a-x","name":" "}}`, wire.CloseBadHandshake},
		{"agent: negative max_concurrent", agentURL, websocket.TextMessage, `{"type":"hello","protocol":1,"agent":{"id":"a-x","name":"x","max_concurrent":-1}}`, wire.CloseBadHandshake},
		{"agent: huge max_concurrent", agentURL, websocket.TextMessage, `{"type":"hello","protocol":1,"agent":{"id":"a-x","name":"x","max_concurrent":1e20}}`, wire.CloseBadHandshake},
		{"agent: holding of the wrong type", agentURL, websocket.TextMessage, `{"type":"hello","protocol":1,"agent":{"id":"a-x","name":"x"},"holding":"all"}`, wire.CloseBadHandshake},
		{"agent: protocol 0", agentURL, websocket.TextMessage, `{"type":"hello","protocol":0,"agent":{"id":"a-x","name":"x"}}`, wire.CloseUnsupportedVersion},
	}
	for _, tc := range preHandshake {
		t.Run(tc.name, func(t *testing.T) {
			p := dialPeer(t, tc.url)
			p.write(tc.kind, []byte(tc.msg))
			if got := p.expectClose(); got != tc.code {
				t.Errorf("closed with %d, want %d", got, tc.code)
			}
			closes[tc.name] = tc.code
		})
	}

	// After a dashboard's hello: an error reply, and the connection goes on.
	d := helloPeer(t, dashURL, nil)
	dashboardCases := []struct {
		name  string
		kind  int
		msg   string
		codes []string
	}{
		{"truncated JSON", websocket.TextMessage, `{"type":"history","limit":`, []string{wire.CodeBadMessage}},
		{"a JSON array", websocket.TextMessage, `[]`, []string{wire.CodeBadMessage}},
		{"JSON null", websocket.TextMessage, `null`, []string{wire.CodeBadMessage}},
		{"a JSON string", websocket.TextMessage, `"subscribe"`, []string{wire.CodeBadMessage}},
		{"no type", websocket.TextMessage, `{}`, []string{wire.CodeBadMessage}},
		{"type of the wrong type", websocket.TextMessage, `{"type":5}`, []string{wire.CodeBadMessage}},
		{"unknown type", websocket.TextMessage, `{"type":"format_disk"}`, []string{wire.CodeUnknownType}},
		{"nested 100000 deep", websocket.TextMessage, `{"type":"history","limit":` + strings.Repeat("[", 100000), []string{wire.CodeBadMessage}},
		{"command_id a number", websocket.TextMessage, `{"type":"subscribe","command_id":5}`, []string{wire.CodeBadMessage}},
		{"argv an object", websocket.TextMessage, `{"type":"run","targets":{"agents":["bystander"]},"argv":{"rm":"-rf"}}`, []string{wire.CodeBadMessage}},
		{"limit a string", websocket.TextMessage, `{"type":"history","limit":"ten"}`, []string{wire.CodeBadMessage}},
		{"huge limit", websocket.TextMessage, `{"type":"history","limit":1e300}`, []string{wire.CodeBadMessage}},
		{"limit past int64", websocket.TextMessage, `{"type":"history","limit":99999999999999999999}`, []string{wire.CodeBadMessage}},
		{"offset past int64", websocket.TextMessage, `{"type":"subscribe","command_id":"` + by.ID + `","offset":9223372036854775808}`, []string{wire.CodeBadMessage}},
		{"huge timeout", websocket.TextMessage, `{"type":"run","targets":{"agents":["bystander"]},"argv":["true"],"timeout_ms":1e30}`, []string{wire.CodeBadMessage}},
		{"huge terminal", websocket.TextMessage, `{"type":"run","targets":{"agents":["bystander"]},"argv":["true"],"cols":99999999999}`, []string{wire.CodeInvalidArgument}},
		{"resize of the bystander to 1e8 columns", websocket.TextMessage, jsonOf(map[string]any{"type": "resize", "command_id": by.ID, "cols": 100000000, "rows": 1}), []string{wire.CodeInvalidArgument}},
		{"negative offset", websocket.TextMessage, `{"type":"subscribe","command_id":"` + by.ID + `","offset":-1}`, []string{wire.CodeInvalidArgument}},
		{"negative limit", websocket.TextMessage, `{"type":"history","limit":-5}`, []string{wire.CodeInvalidArgument}},
		{"negative columns", websocket.TextMessage, jsonOf(map[string]any{"type": "resize", "command_id": by.ID, "cols": -1, "rows": 24}), []string{wire.CodeInvalidArgument}},
		{"negative timeout", websocket.TextMessage, `{"type":"run","targets":{"agents":["bystander"]},"argv":["true"],"timeout_ms":-1}`, []string{wire.CodeInvalidArgument}},
		{"argv and shell", websocket.TextMessage, `{"type":"run","targets":{"agents":["bystander"]},"argv":["true"],"shell":"true"}`, []string{wire.CodeInvalidArgument}},
		{"env name with =", websocket.TextMessage, `{"type":"run","targets":{"agents":["bystander"]},"argv":["true"],"env":{"A=B":"1"}}`, []string{wire.CodeInvalidArgument}},
		{"no targets", websocket.TextMessage, `{"type":"run","argv":["true"]}`, []string{wire.CodeInvalidArgument}},
		{"unknown agent", websocket.TextMessage, `{"type":"run","targets":{"agents":["nobody"]},"argv":["true"]}`, []string{wire.CodeNoTargets}},
		{"subscribe to an unknown id", websocket.TextMessage, `{"type":"subscribe","command_id":"c-nope"}`, []string{wire.CodeNotFound}},
		{"subscribe to an invalid UTF-8 id", websocket.TextMessage, "{\"type\":\"subscribe\",\"command_id\":\"\xff\xfe\"}", []string{wire.CodeNotFound, wire.CodeBadMessage}},
		{"cancel an unknown id", websocket.TextMessage, `{"type":"cancel","command_id":"c-nope"}`, []string{wire.CodeNotFound}},
		{"resize an unknown id", websocket.TextMessage, `{"type":"resize","command_id":"c-nope","cols":80,"rows":24}`, []string{wire.CodeNotFound}},
		{"history of an unknown agent", websocket.TextMessage, `{"type":"history","agent":"nobody"}`, []string{wire.CodeNotFound}},
		{"cancel a finished command", websocket.TextMessage, `{"type":"cancel","command_id":"` + done.ID + `"}`, []string{wire.CodeNotRunning}},
		{"cancel it again (replayed)", websocket.TextMessage, `{"type":"cancel","command_id":"` + done.ID + `"}`, []string{wire.CodeNotRunning}},
		{"an agent's exited for the bystander's command", websocket.TextMessage, jsonOf(map[string]any{"type": "exited", "command_id": by.ID, "state": "exited", "offset": 0}), []string{wire.CodeBadMessage}},
		{"an agent's ack", websocket.TextMessage, `{"type":"ack","command_id":"` + by.ID + `","offset":0,"done":true}`, []string{wire.CodeBadMessage}},
		{"a second hello", websocket.TextMessage, `{"type":"hello","protocol":1}`, []string{wire.CodeBadMessage}},
		{"input for an unknown id", websocket.BinaryMessage, string(wire.InputFrame("c-nope", []byte("ls\n"))), []string{wire.CodeNotFound}},
		{"input for a finished command", websocket.BinaryMessage, string(wire.InputFrame(done.ID, []byte("ls\n"))), []string{wire.CodeNotRunning}},
		{"an output frame (binary of the wrong kind)", websocket.BinaryMessage, string(outFrame(by.ID, 0, "EVIL")), []string{wire.CodeBadMessage}},
		{"JSON sent as binary", websocket.BinaryMessage, `{"type":"history"}`, []string{wire.CodeUnknownType, wire.CodeBadMessage}},
		{"a one-byte binary frame", websocket.BinaryMessage, "\x02", []string{wire.CodeBadMessage}},
		{"an input frame with an empty id", websocket.BinaryMessage, "\x02\x00ls", []string{wire.CodeBadMessage}},
		{"a truncated input frame", websocket.BinaryMessage, "\x02\xc8abc", []string{wire.CodeBadMessage}},
	}
	for _, tc := range dashboardCases {
		t.Run("dashboard: "+tc.name, func(t *testing.T) {
			d.t = t
			d.write(tc.kind, []byte(tc.msg))
			d.expectError(tc.codes...)
			d.probeDashboard()
		})
	}
	t.Run("dashboard: unsubscribe from what it never followed", func(t *testing.T) {
		d.t = t
		d.text(`{"type":"unsubscribe","command_id":"c-nope"}`)
		d.probeDashboard()
	})
	t.Run("dashboard: too large", func(t *testing.T) {
		p := helloPeer(t, dashURL, nil)
		p.text(huge)
		p.expectError(wire.CodeTooLarge)
		if got := p.expectClose(); got != wire.CloseTooBig {
			t.Errorf("closed with %d, want %d", got, wire.CloseTooBig)
		}
	})

	// Broken WebSocket framing, written under the library: the relay must
	// end the connection cleanly (a close frame, or at least a close).
	framing := []struct {
		name  string
		bytes []byte
		half  bool // then close our sending side
	}{
		{"a truncated frame, then end of stream", wsFrame(0x81, true, 1000, []byte(`{"type":"his`)), true},
		{"an unmasked frame", wsFrame(0x81, false, 2, []byte("{}")), false},
		{"reserved bits set", wsFrame(0xC1, true, 2, []byte("{}")), false},
		{"a continuation with nothing to continue", wsFrame(0x80, true, 2, []byte("{}")), false},
		{"a fragmented ping", wsFrame(0x09, true, 2, []byte("hi")), false},
		{"a ping over 125 bytes", wsFrame(0x89, true, 126, make([]byte, 126)), false},
		{"an unknown opcode", wsFrame(0x83, true, 2, []byte("{}")), false},
		{"a close with an invalid code", wsFrame(0x88, true, 2, []byte{0x03, 0xe7}), false},
		// The relay reads a message to its 1 MiB limit before it refuses it,
		// so this one sends that much of what it announced.
		{"a length of 2^62", wsFrame(0x82, true, 1<<62, make([]byte, wire.MaxMessageSize+64)), false},
	}
	for _, tc := range framing {
		t.Run("framing: "+tc.name, func(t *testing.T) {
			p := helloPeer(t, dashURL, nil)
			if _, err := p.raw(tc.bytes); err != nil {
				t.Fatal(err)
			}
			if tc.half {
				_ = p.ws.NetConn().(*net.TCPConn).CloseWrite()
			}
			closes["framing: "+tc.name] = p.expectClose()
		})
	}

	// An agent after its hello: errors, and attempts on the bystander's
	// command, which the relay must ignore.
	evil := helloPeer(t, agentURL, agentInfo("evil"))
	agentCases := []struct {
		name  string
		kind  int
		msg   string
		codes []string // none: ignored without a reply
	}{
		{"truncated JSON", websocket.TextMessage, `{"type":"started","command_id":`, []string{wire.CodeBadMessage}},
		{"command_id a number", websocket.TextMessage, `{"type":"started","command_id":123}`, []string{wire.CodeBadMessage}},
		{"offset past float64", websocket.TextMessage, `{"type":"exited","command_id":"x","state":"exited","offset":1e400}`, []string{wire.CodeBadMessage}},
		{"running a string", websocket.TextMessage, `{"type":"heartbeat","running":"many"}`, []string{wire.CodeBadMessage}},
		{"unknown type", websocket.TextMessage, `{"type":"self_destruct"}`, []string{wire.CodeUnknownType}},
		{"a dashboard's run", websocket.TextMessage, `{"type":"run","targets":{"agents":["bystander"]},"argv":["true"]}`, []string{wire.CodeBadMessage}},
		{"a second hello", websocket.TextMessage, jsonOf(map[string]any{"type": "hello", "protocol": 1, "agent": agentInfo("evil")}), []string{wire.CodeBadMessage}},
		{"negative dropped range", websocket.TextMessage, `{"type":"output.dropped","command_id":"` + by.ID + `","from":-10,"to":5}`, []string{wire.CodeInvalidArgument}},
		{"backwards dropped range", websocket.TextMessage, `{"type":"output.dropped","command_id":"` + by.ID + `","from":10,"to":5}`, []string{wire.CodeInvalidArgument}},
		{"session with an invalid id", websocket.TextMessage, `{"type":"session","command":{"id":"has space","agent_id":"x","state":"running","output_bytes":0}}`, []string{wire.CodeInvalidArgument}},
		{"an input frame", websocket.BinaryMessage, string(wire.InputFrame(by.ID, []byte("rm -rf /\n"))), []string{wire.CodeBadMessage}},
		{"binary kind 9", websocket.BinaryMessage, "\x09\x01cdata", []string{wire.CodeUnknownType}},
		{"offset over 2^62", websocket.BinaryMessage, string(outFrame(by.ID, 1<<63, "EVIL")), []string{wire.CodeBadMessage}},
		{"an output frame without its offset", websocket.BinaryMessage, "\x01\x01c\x00\x00", []string{wire.CodeBadMessage}},
		{"an output frame with an empty id", websocket.BinaryMessage, "\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00EVIL", []string{wire.CodeBadMessage}},
		{"a truncated id", websocket.BinaryMessage, "\x01\x40c-1", []string{wire.CodeBadMessage}},
		{"output for the bystander's command", websocket.BinaryMessage, string(outFrame(by.ID, 0, "EVIL OUTPUT")), nil},
		{"output far ahead in the bystander's command", websocket.BinaryMessage, string(outFrame(by.ID, 1<<40, "EVIL OUTPUT")), nil},
		{"started for the bystander's command", websocket.TextMessage, `{"type":"started","command_id":"` + by.ID + `","pid":1}`, nil},
		{"dropped bytes of the bystander's command", websocket.TextMessage, `{"type":"output.dropped","command_id":"` + by.ID + `","from":0,"to":1000}`, nil},
		{"a session taking the bystander's command id", websocket.TextMessage, jsonOf(map[string]any{"type": "session", "command": map[string]any{"id": by.ID, "argv": []string{"evil"}}}), nil},
		{"exited for the bystander's command", websocket.TextMessage, jsonOf(map[string]any{"type": "exited", "command_id": by.ID, "state": "exited", "exit_code": 0, "offset": 0}), nil},
	}
	for _, tc := range agentCases {
		t.Run("agent: "+tc.name, func(t *testing.T) {
			evil.t = t
			evil.write(tc.kind, []byte(tc.msg))
			if tc.codes != nil {
				evil.expectError(tc.codes...)
			}
			evil.probeAgent()
			if c := dash.command(by.ID); c.State != wire.StateRunning || c.LostBytes != 0 || c.AgentID != bystanderID.ID {
				t.Fatalf("the bystander's command is now %s on %s with %d bytes lost", c.State, c.AgentName, c.LostBytes)
			}
		})
	}
	t.Run("agent: hello holding the bystander's command, with a negative offset", func(t *testing.T) {
		p := dialPeer(t, agentURL)
		p.send(&wire.Hello{Protocol: wire.ProtocolVersion, Agent: agentInfo("holder"),
			Holding: []wire.HeldCommand{{CommandID: by.ID, Offset: 1 << 40, Exited: true}, {CommandID: "c-nope", Offset: -5}}})
		p.until("welcome", func(_ int, m wire.Message, _ []byte) bool {
			w, ok := m.(*wire.Welcome)
			if ok && (len(w.Resume) != 2 || w.Resume[0].Offset != 0 || w.Resume[1].Offset != 0) {
				t.Errorf("welcome.resume %+v: the relay must claim nothing of commands that are not the agent's", w.Resume)
			}
			return ok
		})
		p.binary(outFrame(by.ID, 0, "EVIL OUTPUT"))
		p.probeAgent()
	})
	t.Run("agent: a second connection with a connected agent's id", func(t *testing.T) {
		first := helloPeer(t, agentURL, agentInfo("twin"))
		helloPeer(t, agentURL, agentInfo("twin"))
		if got := first.expectClose(); got != wire.CloseReplaced {
			t.Errorf("the first connection closed with %d, want %d (replaced)", got, wire.CloseReplaced)
		}
	})

	// Replays on the agent's own command: every message twice, output
	// resent and overlapping. The command must end with each byte once.
	t.Run("agent: replayed messages for its own command", func(t *testing.T) {
		rp := helloPeer(t, agentURL, agentInfo("replayer"))
		c := dash.run("replayer", wire.CommandSpec{Argv: []string{"echo", "hello world"}})
		watch := followStrict(t, relay.url(), c.ID)
		rp.until("start", func(_ int, m wire.Message, _ []byte) bool {
			s, ok := m.(*wire.Start)
			return ok && s.Command.ID == c.ID
		})
		started := &wire.Started{CommandID: c.ID, PID: 42, StartedAt: time.Now().UTC()}
		rp.send(started)
		rp.send(started)
		rp.binary(outFrame(c.ID, 0, "hello"))
		rp.binary(outFrame(c.ID, 0, "hello"))
		rp.binary(outFrame(c.ID, 3, "lo world"))
		rp.binary(outFrame(c.ID, 0, "hel"))
		rp.send(&wire.Exited{CommandID: c.ID, State: "running", Offset: 11})
		rp.expectError(wire.CodeInvalidArgument)
		code := 0
		exited := &wire.Exited{CommandID: c.ID, State: wire.StateExited, ExitCode: &code, Offset: 11, EndedAt: time.Now().UTC()}
		rp.send(exited)
		rp.send(exited)
		rp.until("ack done", func(_ int, m wire.Message, _ []byte) bool {
			a, ok := m.(*wire.Ack)
			return ok && a.CommandID == c.ID && a.Done
		})
		rp.probeAgent()
		waitFor(t, 10*time.Second, "replayed command to end", func() bool { return watch.hasEnded(c.ID) })
		if got := string(watch.bytes(c.ID)); got != "hello world" {
			t.Errorf("output %q, want %q", got, "hello world")
		}
		if errs := watch.errors(); len(errs) > 0 {
			t.Errorf("strict dashboard: %v", errs)
		}
		waitFor(t, 10*time.Second, "replayed command final", func() bool { return dash.command(c.ID).State.Final() })
		if st := dash.command(c.ID); st.State != wire.StateExited || st.OutputBytes != 11 {
			t.Errorf("replayed command %s with %d bytes", st.State, st.OutputBytes)
		}
	})

	// The silent connection was closed after the handshake timeout.
	select {
	case got := <-silentClose:
		if got != wire.CloseBadHandshake {
			t.Errorf("silent connection closed with %d, want %d", got, wire.CloseBadHandshake)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("silent connection still open after 30s")
	}

	// The bystanders never noticed.
	if _, err := httpGet("http://" + addr + "/healthz"); err != nil || !relay.Alive() {
		t.Fatalf("relay: alive %v, /healthz %v", relay.Alive(), err)
	}
	stream.stop(t)
	final := dash.waitEnd(by.ID, 30*time.Second)
	if final.State != wire.StateExited || final.LostBytes != 0 || final.OutputBytes != stream.size(t) || final.Cols != 0 {
		t.Errorf("bystander command %s, %d bytes (%d lost), %dx%d; the program wrote %d", final.State, final.OutputBytes, final.LostBytes, final.Cols, final.Rows, stream.size(t))
	}
	stream.check(t, "bystander dashboard", dash.bytes(by.ID))
	waitFor(t, 10*time.Second, "strict bystander at the end", func() bool { return byWatch.hasEnded(by.ID) })
	stream.check(t, "strict bystander", byWatch.bytes(by.ID))
	if errs := append(dash.errors(), byWatch.errors()...); len(errs) > 0 {
		t.Errorf("bystander dashboards saw: %v", errs)
	}
	after := dash.run("bystander", wire.CommandSpec{Argv: []string{"echo", "still here"}})
	dash.subscribe(after.ID)
	dash.waitEnd(after.ID, 30*time.Second)
	if got := string(dash.bytes(after.ID)); got != "still here\r\n" {
		t.Errorf("bystander agent after the corpus: %q", got)
	}
	if log := relay.LogText(); strings.Contains(log, "panic") {
		t.Errorf("the relay panicked:\n%s", proctest.Tail(log, 4000))
	}
	result(t, "%d cases before the handshake, %d on a dashboard, %d of broken framing, %d on an agent, plus replays and a silent peer (closed %d after %.1fs): every one answered or closed cleanly; relay alive, no panic; bystander command intact (%d bytes)",
		len(preHandshake), len(dashboardCases)+2, len(framing), len(agentCases)+3, wire.CloseBadHandshake, silentFor.Seconds(), final.OutputBytes)
	var framed []string
	for _, tc := range framing {
		framed = append(framed, fmt.Sprintf("%s → %d", tc.name, closes["framing: "+tc.name]))
	}
	result(t, "broken framing closes: %s", strings.Join(framed, "; "))

	dash.close()
	byWatch.close()
	ag.Stop(syscall.SIGTERM)
	for _, ws := range []*peer{d, evil, silent} {
		ws.ws.Close()
	}
	relay.checkNoLeaks(t, idle)
}
