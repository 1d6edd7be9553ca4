package chaos

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/client"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// follower is a dashboard built on the shared client (reconnecting and
// resuming by itself) that keeps every byte of output it is given.
type follower struct {
	t  *testing.T
	cl *client.Client

	mu         sync.Mutex
	out        relaytest.Outputs
	ended      map[string]bool
	errs       []string
	reconnects int
	paused     chan struct{} // non-nil while the consumer is told to stop reading
	done       chan struct{}
}

// follow connects a follower to the relay at url, with cfg's extras.
func follow(t *testing.T, url string, cfg client.Config) *follower {
	t.Helper()
	cfg.Relay, cfg.Reconnect = url, true
	if cfg.Client == "" {
		cfg.Client = "chaos"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	f := &follower{t: t, cl: cl, out: relaytest.Outputs{}, ended: map[string]bool{}, done: make(chan struct{})}
	go f.consume()
	t.Cleanup(f.close)
	return f
}

func (f *follower) close() {
	f.resume()
	f.cl.Close()
	<-f.done
}

func (f *follower) consume() {
	defer close(f.done)
	for ev := range f.cl.Events() {
		f.mu.Lock()
		gate := f.paused
		f.mu.Unlock()
		if gate != nil {
			<-gate
		}
		f.record(ev)
	}
}

func (f *follower) record(ev any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch ev := ev.(type) {
	case client.Output:
		if err := f.out.Add(ev); err != nil {
			f.errs = append(f.errs, err.Error())
		}
	case client.OutputEnd:
		f.ended[ev.CommandID] = true
	case client.ConnState:
		if ev.State == client.Reconnecting {
			f.reconnects++
		}
	case client.ServerError:
		f.errs = append(f.errs, ev.Code+": "+ev.Message)
	}
}

// pause stops the consumer reading events: the client's buffer fills, its
// socket backs up, and the relay sees a dashboard that stopped reading.
func (f *follower) pause() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.paused == nil {
		f.paused = make(chan struct{})
	}
}

func (f *follower) resume() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.paused != nil {
		close(f.paused)
		f.paused = nil
	}
}

// subscribe follows a command's output from its first byte.
func (f *follower) subscribe(id string) {
	f.t.Helper()
	f.mu.Lock()
	f.out[id] = &bytes.Buffer{}
	f.mu.Unlock()
	if err := f.cl.Subscribe(id, 0); err != nil {
		f.t.Fatal(err)
	}
}

func (f *follower) bytes(id string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.out.Bytes(id)
}

func (f *follower) size(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b := f.out[id]; b != nil {
		return b.Len()
	}
	return 0
}

func (f *follower) hasEnded(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ended[id]
}

func (f *follower) reconnected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reconnects
}

func (f *follower) errors() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.errs...)
}

func (f *follower) command(id string) wire.Command { return f.cl.State().Commands[id] }

func (f *follower) agent(name string) (wire.Agent, bool) {
	for _, a := range f.cl.State().Agents {
		if a.Name == name {
			return a, true
		}
	}
	return wire.Agent{}, false
}

func (f *follower) status(name string) wire.AgentStatus {
	a, _ := f.agent(name)
	return a.Status
}

func (f *follower) online(name string) bool {
	s := f.status(name)
	return s == wire.AgentIdle || s == wire.AgentBusy
}

// run starts spec on the named agent and returns the command.
func (f *follower) run(agent string, spec wire.CommandSpec) wire.Command {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmds, err := f.cl.Run(ctx, wire.Targets{Agents: []string{agent}}, spec)
	if err != nil || len(cmds) != 1 {
		f.t.Fatalf("run on %s: %v (%d commands)", agent, err, len(cmds))
	}
	return cmds[0]
}

// waitEnd waits for a command's output.end and final state.
func (f *follower) waitEnd(id string, timeout time.Duration) wire.Command {
	f.t.Helper()
	waitFor(f.t, timeout, "output.end of "+id, func() bool { return f.hasEnded(id) })
	waitFor(f.t, 10*time.Second, "final state of "+id, func() bool { return f.command(id).State.Final() })
	return f.command(id)
}

// strict is a raw dashboard that holds the relay to the letter of the
// protocol: frames of a command arrive in offset order with no overlap and
// no gap. The shared client trims a resent byte silently; strict reports
// it, so a relay that sent a byte twice cannot hide behind the client.
type strict struct {
	t  *testing.T
	ws *websocket.Conn

	mu    sync.Mutex
	out   map[string]*bytes.Buffer
	ended map[string]int64
	errs  []string
	done  chan struct{}
}

func followStrict(t *testing.T, url string, ids ...string) *strict {
	t.Helper()
	ws := dialHello(t, url+wire.DashboardPath, &wire.Hello{Protocol: wire.ProtocolVersion, Client: "chaos-strict"})
	s := &strict{t: t, ws: ws, out: map[string]*bytes.Buffer{}, ended: map[string]int64{}, done: make(chan struct{})}
	for _, id := range ids {
		s.out[id] = &bytes.Buffer{}
		s.send(&wire.Subscribe{CommandID: id})
	}
	go s.read()
	t.Cleanup(s.close)
	return s
}

func (s *strict) send(m wire.Message) {
	_ = s.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := s.ws.WriteMessage(websocket.TextMessage, wire.MustEncode(m)); err != nil {
		s.t.Errorf("strict dashboard: send: %v", err)
	}
}

func (s *strict) close() {
	s.ws.Close()
	<-s.done
}

func (s *strict) read() {
	defer close(s.done)
	for {
		kind, data, err := s.ws.ReadMessage()
		if err != nil {
			return
		}
		s.mu.Lock()
		if kind == websocket.BinaryMessage {
			s.frame(data)
		} else if m, err := wire.Decode(data); err == nil {
			switch m := m.(type) {
			case *wire.OutputEnd:
				s.ended[m.CommandID] = m.Offset
			case *wire.Error:
				s.errs = append(s.errs, m.Code+": "+m.Message)
			}
		}
		s.mu.Unlock()
	}
}

func (s *strict) frame(data []byte) {
	f, err := wire.ParseFrame(data)
	if err != nil {
		s.errs = append(s.errs, "bad frame: "+err.Error())
		return
	}
	b := s.out[f.CommandID]
	if b == nil {
		s.errs = append(s.errs, "output for a command not subscribed: "+f.CommandID)
		return
	}
	if f.Offset != int64(b.Len()) {
		s.errs = append(s.errs, fmt.Sprintf("%s: frame at offset %d, but %d bytes were had (overlap or gap)", f.CommandID, f.Offset, b.Len()))
		return
	}
	b.Write(f.Data)
}

func (s *strict) bytes(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.out[id].Bytes())
}

func (s *strict) hasEnded(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ended[id]
	return ok
}

func (s *strict) errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

// dialHello opens a raw WebSocket, says hello, and reads up to the end of
// the handshake (welcome, and for dashboards the whole snapshot).
func dialHello(t *testing.T, url string, h *wire.Hello) *websocket.Conn {
	t.Helper()
	return dialHelloWith(t, websocket.DefaultDialer, url, h)
}

func dialHelloWith(t *testing.T, d *websocket.Dialer, url string, h *wire.Hello) *websocket.Conn {
	t.Helper()
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	_ = ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := ws.WriteMessage(websocket.TextMessage, wire.MustEncode(h)); err != nil {
		t.Fatalf("hello: %v", err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("handshake with %s: %v", url, err)
		}
		m, err := wire.Decode(data)
		if err != nil {
			t.Fatalf("handshake with %s: %v", url, err)
		}
		if _, ok := m.(*wire.Welcome); ok && h.Agent != nil {
			break
		}
		if s, ok := m.(*wire.Snapshot); ok && !s.Partial {
			break
		}
	}
	_ = ws.SetReadDeadline(time.Time{})
	return ws
}

// producer is a program that writes random bytes to its terminal, in raw
// mode so that the terminal passes them untouched, and then records the
// SHA-256 of exactly what it wrote in a side file.
type producer struct {
	file string // the program's copy of what it wrote; file+".sum" its checksum
}

func newProducer(t *testing.T, name string) producer {
	return producer{file: filepath.Join(t.TempDir(), name)}
}

// spec writes chunks blocks of size random bytes, pausing between blocks
// (all at once with no pause).
func (p producer) spec(chunks, size int, pause time.Duration) wire.CommandSpec {
	return p.script("", chunks, size, pause)
}

// gated is spec, but the program first waits for a line of input, so
// that everyone can be watching when it begins.
func (p producer) gated(chunks, size int, pause time.Duration) wire.CommandSpec {
	return p.script("read -r -t 60 _; ", chunks, size, pause)
}

// untilStopped writes a block of size random bytes every pause until
// stop is called.
func (p producer) untilStopped(size int, pause time.Duration) wire.CommandSpec {
	gen := fmt.Sprintf("while [ ! -e %s.stop ]; do head -c %d /dev/urandom; sleep %.3f; done", p.file, size, pause.Seconds())
	return p.command("", gen)
}

func (p producer) stop(t *testing.T) {
	if err := os.WriteFile(p.file+".stop", nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (p producer) script(before string, chunks, size int, pause time.Duration) wire.CommandSpec {
	gen := fmt.Sprintf("head -c %d /dev/urandom", chunks*size)
	if pause > 0 {
		gen = fmt.Sprintf("for i in $(seq %d); do head -c %d /dev/urandom; sleep %.3f; done", chunks, size, pause.Seconds())
	}
	return p.command(before, gen)
}

func (p producer) command(before, gen string) wire.CommandSpec {
	script := fmt.Sprintf("stty raw -echo -iexten; %s%s | tee %s; sha256sum < %s | cut -d' ' -f1 > %s.sum", before, gen, p.file, p.file, p.file)
	return wire.CommandSpec{Argv: []string{"bash", "-c", script}}
}

// check compares bytes received with what the program says it wrote.
func (p producer) check(t *testing.T, where string, got []byte) {
	t.Helper()
	want, err := os.ReadFile(p.file + ".sum")
	if err != nil {
		t.Errorf("%s: the program left no checksum: %v", where, err)
		return
	}
	sum := sha256.Sum256(got)
	if hex.EncodeToString(sum[:]) != strings.TrimSpace(string(want)) {
		size := int64(-1)
		if fi, err := os.Stat(p.file); err == nil {
			size = fi.Size()
		}
		t.Errorf("%s: %d bytes whose SHA-256 differs from what the program wrote (%d bytes)", where, len(got), size)
	}
}

// size is how many bytes the program wrote.
func (p producer) size(t *testing.T) int64 {
	fi, err := os.Stat(p.file)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
