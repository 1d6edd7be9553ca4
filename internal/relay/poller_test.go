//go:build linux

package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// heldConn is a client socket whose writes can be held back and sent as
// one: several frames then reach the relay in one segment.
type heldConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	buf  []byte
}

func (c *heldConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hold {
		c.buf = append(c.buf, b...)
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// release sends what was held in one write and stops holding.
func (c *heldConn) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = false
	_, err := c.Conn.Write(c.buf)
	return err
}

// dialAgentHeld dials the agent endpoint with writes held.
func dialAgentHeld(t *testing.T, r *relaytest.Relay) (*rawPeer, *heldConn) {
	t.Helper()
	var held *heldConn
	d := websocket.Dialer{WriteBufferSize: 1024, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		held = &heldConn{Conn: c}
		return held, nil
	}}
	ws, _, err := d.Dial(r.URL()+wire.AgentPath, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	return &rawPeer{t: t, ws: ws}, held
}

// welcomedAgent dials the agent endpoint and registers.
func welcomedAgent(t *testing.T, r *relaytest.Relay, name string) *rawPeer {
	t.Helper()
	p, _ := dialAgentHeld(t, r)
	p.send(agentHello(name))
	expect[*wire.Welcome](p)
	return p
}

func agentHello(name string) *wire.Hello {
	return &wire.Hello{Protocol: wire.ProtocolVersion, Client: "raw-agent",
		Agent: &wire.AgentInfo{ID: "a-" + name, Name: name, MaxConcurrent: 1}}
}

// polled reads switchboard_polled_connections.
func polled(t *testing.T, r *relaytest.Relay) string {
	t.Helper()
	body, err := httpGet(r.HTTPURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, "switchboard_polled_connections "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("/metrics lacks switchboard_polled_connections")
	return ""
}

// TestAgentFramesAsClientsSendThem runs the agent endpoint's framing
// cases with agents read by a poller and, for comparison, each by a
// goroutine of its own through gorilla: both must behave the same.
func TestAgentFramesAsClientsSendThem(t *testing.T) {
	for _, mode := range []struct {
		name   string
		off    bool
		polled string
	}{{"poller", false, "1"}, {"goroutine", true, "0"}} {
		t.Run(mode.name, func(t *testing.T) {
			r := relaytest.Start(t, relay.Config{NoReadPoller: mode.off, AgentTimeout: 1500 * time.Millisecond,
				HandshakeTimeout: time.Second})

			for _, sent := range []struct {
				name  string
				bytes []byte
			}{{"nothing", nil}, {"half a hello", []byte{0x81, 0x80 | 100, 1, 2, 3, 4, '{'}}} {
				t.Run("hello never completes: "+sent.name, func(t *testing.T) {
					p, _ := dialAgentHeld(t, r)
					if _, err := p.ws.NetConn().Write(sent.bytes); err != nil {
						t.Fatal(err)
					}
					began := time.Now()
					if ce := p.expectClose(); ce.Code != wire.CloseBadHandshake {
						t.Fatalf("close %d %q, want %d", ce.Code, ce.Text, wire.CloseBadHandshake)
					}
					if el := time.Since(began); el < 500*time.Millisecond {
						t.Fatalf("closed after %s, before the 1 s handshake timeout", el)
					}
				})
			}

			t.Run("hello and a fragmented message in one segment, a ping between its fragments", func(t *testing.T) {
				p, held := dialAgentHeld(t, r)
				held.hold = true
				pongs := make(chan string, 1)
				p.ws.SetPongHandler(func(s string) error { pongs <- s; return nil })
				p.send(agentHello("frag-" + mode.name))
				w, err := p.ws.NextWriter(websocket.TextMessage)
				if err != nil {
					t.Fatal(err)
				}
				pad := strings.Repeat("x", 3000) // several 1 kB frames
				fmt.Fprintf(w, `{"type":"teleport","pad":"%s`, pad[:1500])
				if err := p.ws.WriteControl(websocket.PingMessage, []byte("mid-message"), time.Now().Add(time.Second)); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(w, `%s"}`, pad[1500:])
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if err := held.release(); err != nil {
					t.Fatal(err)
				}
				expect[*wire.Welcome](p)
				if e := expect[*wire.Error](p); e.Code != wire.CodeUnknownType {
					t.Fatalf("got %+v, want unknown_type for the reassembled message", e)
				}
				select {
				case s := <-pongs:
					if s != "mid-message" {
						t.Fatalf("pong %q", s)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("no pong for the ping between fragments")
				}
				// This agent's and none other: the refused ones before it
				// close within a second (the relay lingers for their reading).
				relaytest.Eventually(t, 5*time.Second, "switchboard_polled_connections = "+mode.polled,
					func() bool { return polled(t, r) == mode.polled })
			})

			t.Run("oversized message", func(t *testing.T) {
				p := welcomedAgent(t, r, "big-"+mode.name)
				if err := p.ws.WriteMessage(websocket.BinaryMessage, make([]byte, wire.MaxMessageSize+1)); err != nil {
					t.Fatal(err)
				}
				if e := expect[*wire.Error](p); e.Code != wire.CodeTooLarge {
					t.Fatalf("got %+v, want too_large", e)
				}
				if ce := p.expectClose(); ce.Code != wire.CloseTooBig {
					t.Fatalf("close %d %q, want 1009", ce.Code, ce.Text)
				}
			})

			t.Run("unmasked frame", func(t *testing.T) {
				p := welcomedAgent(t, r, "bare-"+mode.name)
				if _, err := p.ws.NetConn().Write([]byte{0x81, 0x02, '{', '}'}); err != nil {
					t.Fatal(err)
				}
				if ce := p.expectClose(); ce.Code != websocket.CloseProtocolError {
					t.Fatalf("close %d %q, want 1002", ce.Code, ce.Text)
				}
			})

			t.Run("close is echoed", func(t *testing.T) {
				p := welcomedAgent(t, r, "bye-"+mode.name)
				if err := p.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "done"), time.Now().Add(time.Second)); err != nil {
					t.Fatal(err)
				}
				if ce := p.expectClose(); ce.Code != websocket.CloseNormalClosure {
					t.Fatalf("close %d %q, want 1000 echoed", ce.Code, ce.Text)
				}
			})

			t.Run("a silent agent is cut off", func(t *testing.T) {
				p := welcomedAgent(t, r, "mute-"+mode.name)
				// Not reading: the relay's pings go unanswered.
				began := time.Now()
				relaytest.Eventually(t, 10*time.Second, "the silent agent disconnected", func() bool {
					body, err := httpGet(r.HTTPURL() + "/metrics")
					return err == nil && bytes.Contains(body, []byte(`switchboard_connections{kind="agent"} 0`))
				})
				if el := time.Since(began); el < time.Second {
					t.Fatalf("cut off after %s, before the 1.5 s timeout", el)
				}
				_ = p.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
				for {
					if _, _, err := p.ws.ReadMessage(); err != nil {
						if ne, ok := err.(net.Error); ok && ne.Timeout() {
							t.Fatal("the relay left the silent agent's socket open")
						}
						break // the pings it sent, then the end
					}
				}
			})
		})
	}
}

// TestAgentMessagesCounted: /metrics counts every message an agent sends
// after its hello, and its bytes, whether a poller (which adds up counts
// once a poll) or a goroutine of its own reads the agent.
func TestAgentMessagesCounted(t *testing.T) {
	for _, mode := range []struct {
		name string
		off  bool
	}{{"poller", false}, {"goroutine", true}} {
		t.Run(mode.name, func(t *testing.T) {
			r := relaytest.Start(t, relay.Config{NoReadPoller: mode.off})
			p := welcomedAgent(t, r, "counted-"+mode.name)
			const n = 500
			sent := 0
			for i := range n {
				msg := wire.MustEncode(&wire.Heartbeat{Running: i % 2})
				p.sendText(string(msg))
				sent += len(msg)
			}
			want := []string{
				fmt.Sprintf(`switchboard_messages_in_total{kind="agent"} %d`, n),
				fmt.Sprintf(`switchboard_bytes_in_total{kind="agent"} %d`, sent),
			}
			var body []byte
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				var err error
				if body, err = httpGet(r.HTTPURL() + "/metrics"); err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(body, []byte(want[0]+"\n")) && bytes.Contains(body, []byte(want[1]+"\n")) {
					return
				}
			}
			for line := range strings.Lines(string(body)) {
				if strings.Contains(line, `_in_total{kind="agent"}`) {
					t.Errorf("/metrics: %s", strings.TrimSpace(line))
				}
			}
			t.Fatalf("want %q and %q", want[0], want[1])
		})
	}
}
