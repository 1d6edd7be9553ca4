package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/wire"
)

// testRelay stands in for the relay in connection tests. It is not a
// relay: it upgrades each /ws/agent connection and hands it to the test,
// which then plays the relay's side of docs/protocol.md message by message.
type testRelay struct {
	srv    *httptest.Server
	conns  chan *peer
	refuse atomic.Bool // answer 503 instead of upgrading, like an unreachable relay
	closed chan struct{}

	mu    sync.Mutex
	peers []*peer
}

// peer is one agent connection, seen from the relay's side.
type peer struct {
	ws   *websocket.Conn
	once sync.Once
	done chan struct{} // closed to end the server handler
}

// received is one message from the agent: a JSON message or a binary frame.
type received struct {
	msg   wire.Message
	frame *wire.Frame
}

func newTestRelay(t *testing.T) *testRelay {
	r := &testRelay{conns: make(chan *peer, 16), closed: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		close(r.closed)
		r.mu.Lock()
		for _, p := range r.peers {
			p.drop()
		}
		r.mu.Unlock()
		r.srv.Close()
	})
	return r
}

func (r *testRelay) serve(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != wire.AgentPath {
		http.NotFound(w, req)
		return
	}
	if r.refuse.Load() {
		http.Error(w, "relay unavailable", http.StatusServiceUnavailable)
		return
	}
	ws, err := (&websocket.Upgrader{}).Upgrade(w, req, nil)
	if err != nil {
		return
	}
	p := &peer{ws: ws, done: make(chan struct{})}
	r.mu.Lock()
	r.peers = append(r.peers, p)
	r.mu.Unlock()
	select {
	case r.conns <- p:
	case <-r.closed:
		p.drop()
	}
	<-p.done
}

// accept waits for the agent's next connection.
func (r *testRelay) accept(t *testing.T) *peer {
	t.Helper()
	select {
	case p := <-r.conns:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not connect")
		return nil
	}
}

func (p *peer) next(t *testing.T) received {
	t.Helper()
	_ = p.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	kind, data, err := p.ws.ReadMessage()
	if err != nil {
		t.Fatalf("read from agent: %v", err)
	}
	if kind == websocket.BinaryMessage {
		f, err := wire.ParseFrame(data)
		if err != nil {
			t.Fatalf("agent sent a bad frame: %v", err)
		}
		return received{frame: &f}
	}
	m, err := wire.Decode(data)
	if err != nil {
		t.Fatalf("agent sent a bad message %q: %v", data, err)
	}
	return received{msg: m}
}

func (p *peer) expectHello(t *testing.T) *wire.Hello {
	t.Helper()
	h, ok := p.next(t).msg.(*wire.Hello)
	if !ok {
		t.Fatal("the agent's first message is not hello")
	}
	return h
}

func (p *peer) welcome(t *testing.T, resume ...wire.Ack) {
	t.Helper()
	p.send(t, &wire.Welcome{Protocol: wire.ProtocolVersion, Relay: "test", HeartbeatMS: 50, Resume: resume})
}

func (p *peer) send(t *testing.T, m wire.Message) {
	t.Helper()
	if err := p.ws.WriteMessage(websocket.TextMessage, wire.MustEncode(m)); err != nil {
		t.Fatalf("send %s: %v", m.MessageType(), err)
	}
}

func (p *peer) sendInput(t *testing.T, id string, data []byte) {
	t.Helper()
	if err := p.ws.WriteMessage(websocket.BinaryMessage, wire.InputFrame(id, data)); err != nil {
		t.Fatalf("send input: %v", err)
	}
}

// closeWith closes the connection the way the relay does: a close frame
// with a code, then the socket.
func (p *peer) closeWith(code int, reason string) {
	_ = p.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	p.drop()
}

// drop closes the socket without a word, like a network failure.
func (p *peer) drop() {
	p.once.Do(func() {
		_ = p.ws.Close()
		close(p.done)
	})
}

// until reads messages until stop returns true for one, returning them all.
func (p *peer) until(t *testing.T, stop func(received) bool) []received {
	t.Helper()
	var seen []received
	for {
		r := p.next(t)
		seen = append(seen, r)
		if stop(r) {
			return seen
		}
	}
}

// streamed is one command's traffic as the relay would store it.
type streamed struct {
	out     []byte
	exited  *wire.Exited
	started int
	dropped []wire.OutputDropped
	order   []string // message types for this command, frames as "output"
}

// follow reads until command id's exited message, checking that its
// output frames start at from and continue without gap or overlap,
// except across ranges reported by output.dropped.
func (p *peer) follow(t *testing.T, id string, from int64) streamed {
	t.Helper()
	var s streamed
	next := from
	p.until(t, func(r received) bool {
		switch m := r.msg.(type) {
		case nil:
			if r.frame.CommandID != id {
				return false
			}
			if r.frame.Offset != next {
				t.Fatalf("frame for %s at offset %d, want %d: resent or skipped bytes", id, r.frame.Offset, next)
			}
			s.out = append(s.out, r.frame.Data...)
			next = r.frame.End()
			s.order = append(s.order, "output")
		case *wire.Started:
			if m.CommandID == id {
				s.started++
				s.order = append(s.order, m.MessageType())
			}
		case *wire.SessionOpened:
			if m.Command.ID == id {
				s.order = append(s.order, m.MessageType())
			}
		case *wire.OutputDropped:
			if m.CommandID == id {
				if m.From != next {
					t.Fatalf("output.dropped from %d, want %d", m.From, next)
				}
				next = m.To
				s.dropped = append(s.dropped, *m)
				s.order = append(s.order, m.MessageType())
			}
		case *wire.Exited:
			if m.CommandID == id {
				s.exited = m
				s.order = append(s.order, m.MessageType())
				if m.Offset != next {
					t.Fatalf("exited at offset %d, but output reached %d", m.Offset, next)
				}
				return true
			}
		}
		return false
	})
	return s
}

// runTestAgent runs an agent against relay until the test ends or the
// returned stop is called. Stop waits for Run to return.
// runOnTestAgent starts an agent on a test relay, welcomes it, and starts
// spec on it as command "c-1".
func runOnTestAgent(t *testing.T, spec wire.CommandSpec) *peer {
	t.Helper()
	relay := newTestRelay(t)
	runTestAgent(t, relay, nil)
	p := relay.accept(t)
	p.expectHello(t)
	p.welcome(t)
	p.send(t, startMsg("c-1", spec))
	return p
}

func runTestAgent(t *testing.T, relay *testRelay, mutate func(*Config)) (*Agent, *syncBuffer, func()) {
	t.Helper()
	log, logs := testLogger(t)
	cfg := Config{
		RelayURL: relay.srv.URL, Name: "test-agent", ID: "a-test", Labels: map[string]string{"pool": "ci"},
		CancelGrace: time.Second, ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond,
		Logger: log, Version: "0.0.1",
	}
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return a, logs, stop
}
