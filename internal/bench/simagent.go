package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/wire"
)

// simDialer is shared by every simulated agent. Write buffers come from a
// pool, so ten thousand idle agents do not each hold one; a buffer of
// MaxChunk sends an output frame as one WebSocket frame.
var simDialer = &websocket.Dialer{
	HandshakeTimeout: 30 * time.Second,
	ReadBufferSize:   4096,
	WriteBufferSize:  wire.MaxChunk + 64,
	WriteBufferPool:  &sync.Pool{},
}

// simAgent is a simulated agent: a minimal peer of the agent protocol
// (docs/protocol.md) that registers, answers each start with started,
// sends the output frames and exit it is told to, and records the relay's
// acknowledgements. To a relay that takes timing it sends timed frames,
// each with the one timing record of its output, as a real agent's frame
// carries while a command prints a line at a time.
type simAgent struct {
	// Static after dial.
	id      string
	ws      *websocket.Conn
	onStart func(*simAgent, wire.Command) // called by the reader, after started is sent

	wmu     sync.Mutex           // serializes writes: gorilla allows one writer at a time
	scratch []byte               // frame buffer; guarded by wmu
	timing  bool                 // the relay takes timed frames; static after dial
	clocks  map[string]*simClock // per command; guarded by wmu

	mu      sync.Mutex
	acked   map[string]int64 // command id -> offset the relay has stored up to
	done    map[string]bool  // command id -> its end is stored
	ackWake chan struct{}    // poked on every ack
	readErr error
	closed  chan struct{} // the reader has ended
}

// dialSimAgent connects and registers a simulated agent.
func dialSimAgent(ctx context.Context, to relayAddr, name string, labels map[string]string, onStart func(*simAgent, wire.Command)) (*simAgent, error) {
	dialer := simDialer
	if to.tls != nil {
		d := *simDialer // the same buffer pool
		d.TLSClientConfig = to.tls
		dialer = &d
	}
	ws, _, err := dialer.DialContext(ctx, to.url+wire.AgentPath, nil)
	if err != nil {
		return nil, fmt.Errorf("agent %s: dial: %w", name, err)
	}
	a := &simAgent{id: wire.NewID("a"), ws: ws, onStart: onStart, acked: make(map[string]int64), clocks: make(map[string]*simClock),
		done: make(map[string]bool), ackWake: make(chan struct{}, 1), closed: make(chan struct{})}
	hello := &wire.Hello{Protocol: wire.ProtocolVersion, Client: "swbench-agent",
		Agent: &wire.AgentInfo{ID: a.id, Name: name, Labels: labels, MaxConcurrent: 1}}
	if err := a.writeText(hello); err != nil {
		ws.Close()
		return nil, fmt.Errorf("agent %s: hello: %w", name, err)
	}
	w, err := a.awaitWelcome(ctx)
	if err != nil {
		ws.Close()
		return nil, fmt.Errorf("agent %s: %w", name, err)
	}
	a.timing = w.Timing
	go a.readLoop()
	return a, nil
}

func (a *simAgent) awaitWelcome(ctx context.Context) (*wire.Welcome, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = a.ws.SetReadDeadline(dl)
	}
	defer a.ws.SetReadDeadline(time.Time{})
	_, data, err := a.ws.ReadMessage()
	if err != nil {
		return nil, fmt.Errorf("wait for welcome: %w", err)
	}
	m, err := wire.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("wait for welcome: %w", err)
	}
	w, ok := m.(*wire.Welcome)
	if !ok {
		return nil, fmt.Errorf("wait for welcome: got %s", data)
	}
	return w, nil
}

// simClock is a command's timing as a simulated agent keeps it.
type simClock struct {
	began time.Time
	next  uint64 // number of the next record
	last  int64  // time of the last output record, in ms
}

// readLoop handles what the relay sends until the connection ends. Pings
// are answered by gorilla's default handler.
func (a *simAgent) readLoop() {
	defer close(a.closed)
	for {
		kind, data, err := a.ws.ReadMessage()
		if err != nil {
			a.mu.Lock()
			a.readErr = err
			a.mu.Unlock()
			a.poke()
			return
		}
		if kind != websocket.TextMessage {
			continue // input frames: a simulated agent has no terminal
		}
		m, err := wire.Decode(data)
		if err != nil {
			continue
		}
		switch m := m.(type) {
		case *wire.Start:
			_ = a.writeText(&wire.Started{CommandID: m.Command.ID, PID: 1, StartedAt: time.Now().UTC()})
			if a.onStart != nil {
				a.onStart(a, m.Command)
			}
		case *wire.Ack:
			a.mu.Lock()
			a.acked[m.CommandID] = max(a.acked[m.CommandID], m.Offset)
			a.done[m.CommandID] = a.done[m.CommandID] || m.Done
			a.mu.Unlock()
			a.poke()
		}
	}
}

func (a *simAgent) poke() {
	select {
	case a.ackWake <- struct{}{}:
	default:
	}
}

func (a *simAgent) writeText(m wire.Message) error {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	return a.ws.WriteMessage(websocket.TextMessage, wire.MustEncode(m))
}

// sendOutput sends one output frame, timed when the relay takes timing.
func (a *simAgent) sendOutput(commandID string, offset int64, data []byte) error {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	if !a.timing {
		a.scratch = wire.AppendOutputFrame(a.scratch[:0], commandID, offset, data)
		return a.ws.WriteMessage(websocket.BinaryMessage, a.scratch)
	}
	c := a.clocks[commandID]
	if c == nil {
		c = &simClock{began: time.Now(), last: -1}
		a.clocks[commandID] = c
	}
	var recs [1]wire.TimingRecord
	sec := []byte(nil)
	if ms := time.Since(c.began).Milliseconds(); ms != c.last { // one record a millisecond, as the agent
		c.last = ms
		recs[0] = wire.TimingRecord{Seq: c.next, Kind: wire.TimingOutput, TimeMS: ms, Offset: offset}
		c.next++
		sec = wire.AppendTimingSection(make([]byte, 0, 16), recs[:])
	}
	a.scratch = wire.AppendTimedFrame(a.scratch[:0], commandID, offset, sec, data)
	return a.ws.WriteMessage(websocket.BinaryMessage, a.scratch)
}

// exit reports the command ended after total bytes of output.
func (a *simAgent) exit(commandID string, total int64, began time.Time) error {
	code := 0
	now := time.Now().UTC()
	return a.writeText(&wire.Exited{CommandID: commandID, State: wire.StateExited, ExitCode: &code,
		Offset: total, EndedAt: now, DurationMS: now.Sub(began).Milliseconds()})
}

func (a *simAgent) heartbeat() error { return a.writeText(&wire.Heartbeat{Running: 0}) }

// ackedAt returns how far the relay has stored a command, and whether its
// end is stored.
func (a *simAgent) ackedAt(commandID string) (int64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acked[commandID], a.done[commandID]
}

// waitAcked blocks until the relay has stored a command up to offset (and
// its end, with done), the connection fails, or ctx ends. One goroutine
// at a time may wait.
func (a *simAgent) waitAcked(ctx context.Context, commandID string, offset int64, done bool) error {
	for {
		a.mu.Lock()
		ok := a.acked[commandID] >= offset && (!done || a.done[commandID])
		err := a.readErr
		a.mu.Unlock()
		if ok {
			return nil
		}
		if err != nil {
			return fmt.Errorf("agent connection: %w", err)
		}
		select {
		case <-a.ackWake:
		case <-ctx.Done():
			return errors.New("timed out waiting for the relay to store output")
		}
	}
}

func (a *simAgent) close() {
	a.ws.Close()
	<-a.closed
}
