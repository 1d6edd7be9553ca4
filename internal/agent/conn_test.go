package agent

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/wire"
)

func startMsg(id string, spec wire.CommandSpec) *wire.Start {
	return &wire.Start{Command: wire.Command{ID: id, AgentID: "a-test", CommandSpec: spec, State: wire.StateRunning}}
}

func TestHelloRegistersTheAgent(t *testing.T) {
	relay := newTestRelay(t)
	runTestAgent(t, relay, func(c *Config) { c.Token = "sekrit" })
	h := relay.accept(t).expectHello(t)
	want := wire.AgentInfo{ID: "a-test", Name: "test-agent", Labels: map[string]string{"pool": "ci"},
		OS: runtime.GOOS, Arch: runtime.GOARCH, Version: "0.0.1", MaxConcurrent: DefaultMaxConcurrent}
	got := *h.Agent
	got.Hostname = ""
	if h.Protocol != wire.ProtocolVersion || h.Token != "sekrit" || fmt.Sprint(got) != fmt.Sprint(want) || len(h.Holding) != 0 {
		t.Fatalf("hello protocol %d token %q agent %+v holding %v", h.Protocol, h.Token, got, h.Holding)
	}
}

func TestCommandRunsOverTheConnection(t *testing.T) {
	relay := newTestRelay(t)
	a, _, _ := runTestAgent(t, relay, nil)
	p := relay.accept(t)
	p.expectHello(t)
	p.welcome(t)
	p.send(t, startMsg("c-1", wire.CommandSpec{Shell: "echo hi; exit 3"}))

	s := p.follow(t, "c-1", 0)
	if string(s.out) != "hi\r\n" || s.exited.State != wire.StateExited || derefOr(s.exited.ExitCode, -1) != 3 {
		t.Fatalf("output %q exited %+v", s.out, s.exited)
	}
	if !slices.Equal(s.order, []string{"started", "output", "exited"}) {
		t.Fatalf("messages %v", s.order)
	}
	p.until(t, func(r received) bool { _, ok := r.msg.(*wire.Heartbeat); return ok })

	p.send(t, &wire.Ack{CommandID: "c-1", Offset: 4, Done: true})
	eventually(t, 5*time.Second, "the agent to forget the command", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.cmds) == 0 && a.buffered == 0
	})
}

// A flood is read a few KiB at a time; it goes out in far fewer, larger
// frames than reads, and still whole and in order.
func TestFloodIsSentInGatheredFrames(t *testing.T) {
	const total = 8 << 20
	p := runOnTestAgent(t, wire.CommandSpec{Shell: fmt.Sprintf("head -c %d /dev/zero", total)})

	s := p.follow(t, "c-1", 0)
	if len(s.out) != total || bytes.ContainsFunc(s.out, func(r rune) bool { return r != 0 }) {
		t.Fatalf("got %d bytes (want %d zero bytes)", len(s.out), total)
	}
	frames := 0
	for _, m := range s.order {
		if m == "output" {
			frames++
		}
	}
	if frames > total/(16<<10) {
		t.Fatalf("%d frames for %d bytes: %d bytes a frame, about one terminal read each", frames, total, total/frames)
	}
	t.Logf("%d frames, %d bytes a frame", frames, total/frames)
}

// Typed one keystroke at a time, every byte value comes back intact, each
// echo before the next key.
func TestEchoOneKeystrokeAtATime(t *testing.T) {
	p := runOnTestAgent(t, wire.CommandSpec{Shell: "stty raw -echo -iexten && printf R && exec cat"})
	var got []byte
	next := int64(0)
	readUntil := func(n int) {
		p.until(t, func(r received) bool {
			if r.msg == nil && r.frame.CommandID == "c-1" {
				if r.frame.Offset != next {
					t.Fatalf("frame at offset %d, want %d", r.frame.Offset, next)
				}
				got = append(got, r.frame.Data...)
				next = r.frame.End()
			}
			return len(got) >= n
		})
	}
	readUntil(1)
	for i := range 256 {
		p.sendInput(t, "c-1", []byte{byte(i)})
		readUntil(2 + i)
	}
	if want := append([]byte("R"), allBytes()...); !bytes.Equal(got, want) {
		t.Fatalf("echoed %q, want %q", got, want)
	}
}

func TestInputAndResizeOverTheConnection(t *testing.T) {
	p := runOnTestAgent(t, wire.CommandSpec{Shell: "read x; stty size"})
	p.until(t, func(r received) bool { _, ok := r.msg.(*wire.Started); return ok })
	p.send(t, &wire.Resize{CommandID: "c-1", Cols: 90, Rows: 33})
	p.sendInput(t, "c-1", []byte("go\r"))
	s := p.follow(t, "c-1", 0)
	if string(s.out) != "go\r\n33 90\r\n" || derefOr(s.exited.ExitCode, -1) != 0 {
		t.Fatalf("output %q exited %+v", s.out, s.exited)
	}
}

func TestCancelOverTheConnection(t *testing.T) {
	relay := newTestRelay(t)
	runTestAgent(t, relay, nil)
	p := relay.accept(t)
	p.expectHello(t)
	p.welcome(t)
	// Argv, not a shell: a shell between fork and exec of its child can
	// swallow the SIGINT, and the test would see the SIGKILL that follows.
	p.send(t, startMsg("c-1", wire.CommandSpec{Argv: []string{"sleep", "100"}}))
	p.until(t, func(r received) bool { _, ok := r.msg.(*wire.Started); return ok })
	start := time.Now()
	p.send(t, &wire.Cancel{CommandID: "c-1"})
	s := p.follow(t, "c-1", 0)
	if s.exited.State != wire.StateCanceled || s.exited.Signal != "SIGINT" || time.Since(start) > time.Second {
		t.Fatalf("exited %+v after %s", s.exited, time.Since(start))
	}
}

func TestCommandsTheAgentCannotRunAreRejected(t *testing.T) {
	relay := newTestRelay(t)
	runTestAgent(t, relay, func(c *Config) { c.MaxConcurrent = 1 })
	p := relay.accept(t)
	p.expectHello(t)
	p.welcome(t)

	rejects := []struct {
		id     string
		spec   wire.CommandSpec
		reason string
	}{
		{"c-prog", wire.CommandSpec{Argv: []string{"/no/such/program"}}, "no such file or directory"},
		{"c-cwd", wire.CommandSpec{Shell: "true", Cwd: "/no/such/dir"}, "working directory"},
		{"c-both", wire.CommandSpec{Shell: "true", Argv: []string{"true"}}, errNoCommand},
	}
	for _, r := range rejects {
		p.send(t, startMsg(r.id, r.spec))
		s := p.follow(t, r.id, 0)
		if s.exited.State != wire.StateRejected || !strings.Contains(s.exited.Reason, r.reason) || s.started != 0 {
			t.Errorf("%s: exited %+v after %d started", r.id, s.exited, s.started)
		}
	}

	p.send(t, startMsg("c-sleep", wire.CommandSpec{Argv: []string{"sleep", "100"}}))
	p.until(t, func(r received) bool { m, ok := r.msg.(*wire.Started); return ok && m.CommandID == "c-sleep" })
	p.send(t, startMsg("c-over", wire.CommandSpec{Shell: "true"}))
	if s := p.follow(t, "c-over", 0); s.exited.State != wire.StateRejected || !strings.Contains(s.exited.Reason, "max_concurrent") {
		t.Errorf("over the limit: exited %+v", s.exited)
	}
	p.send(t, startMsg("c-sleep", wire.CommandSpec{Argv: []string{"sleep", "100"}})) // a duplicate: ignored
	p.send(t, &wire.Cancel{CommandID: "c-sleep"})
	if s := p.follow(t, "c-sleep", 0); s.exited.State != wire.StateCanceled || s.started != 0 {
		t.Errorf("c-sleep: exited %+v, %d more started messages", s.exited, s.started)
	}
}

// lines is what `seq from to` prints through a cooked terminal.
func lines(from, to int) []byte {
	var b bytes.Buffer
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "%d\r\n", i)
	}
	return b.Bytes()
}

// After a reconnect the agent resends exactly from the offset the relay
// asks for: the relay ends up with every byte once.
func TestReconnectResumesFromTheRelaysOffset(t *testing.T) {
	relay := newTestRelay(t)
	runTestAgent(t, relay, nil)
	p := relay.accept(t)
	p.expectHello(t)
	p.welcome(t)
	p.send(t, startMsg("c-1", wire.CommandSpec{Shell: "seq 1 5000; read x; seq 5001 10000"}))

	first := lines(1, 5000)
	var got []byte
	p.until(t, func(r received) bool {
		if r.frame != nil {
			got = append(got, r.frame.Data...)
		}
		return len(got) >= len(first)
	})
	if !bytes.Equal(got, first) {
		t.Fatalf("first part differs: %d bytes", len(got))
	}
	p.send(t, &wire.Ack{CommandID: "c-1", Offset: 1000})
	p.sendInput(t, "c-1", []byte("go\r")) // the rest is printed while we are away
	p.drop()

	want := slices.Concat(first, []byte("go\r\n"), lines(5001, 10000))
	p = relay.accept(t)
	h := p.expectHello(t)
	if len(h.Holding) != 1 || h.Holding[0].CommandID != "c-1" || h.Holding[0].Offset < int64(len(first)) {
		t.Fatalf("holding %+v", h.Holding)
	}
	resume := int64(len(first) - 100) // the relay stored a little less than it was sent
	p.welcome(t, wire.Ack{CommandID: "c-1", Offset: resume})
	s := p.follow(t, "c-1", resume)
	if !bytes.Equal(s.out, want[resume:]) {
		t.Fatalf("resent %d bytes, want %d", len(s.out), len(want)-int(resume))
	}
	if s.exited.Offset != int64(len(want)) || derefOr(s.exited.ExitCode, -1) != 0 {
		t.Fatalf("exited %+v", s.exited)
	}
	p.send(t, &wire.Ack{CommandID: "c-1", Offset: s.exited.Offset, Done: true})

	// Once done, the command is no longer held on the next connection.
	p.until(t, func(r received) bool { _, ok := r.msg.(*wire.Heartbeat); return ok })
	p.drop()
	if h := relay.accept(t).expectHello(t); len(h.Holding) != 0 {
		t.Fatalf("still holding %+v after done", h.Holding)
	}
}

func TestOverflowWhileDisconnectedIsReported(t *testing.T) {
	relay := newTestRelay(t)
	relay.refuse.Store(true)
	a, _, _ := runTestAgent(t, relay, func(c *Config) { c.BufferBytes = minBufferBytes })
	a.start(wire.Command{ID: "c-flood", CommandSpec: wire.CommandSpec{Shell: `head -c 1000000 /dev/zero | tr '\0' x`}})
	eventually(t, 10*time.Second, "the flood to end", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.cmds["c-flood"].exit != nil
	})
	relay.refuse.Store(false)

	p := relay.accept(t)
	h := p.expectHello(t)
	if want := []wire.HeldCommand{{CommandID: "c-flood", Offset: 1_000_000, Exited: true}}; !slices.Equal(h.Holding, want) {
		t.Fatalf("holding %+v, want %+v", h.Holding, want)
	}
	p.welcome(t, wire.Ack{CommandID: "c-flood", Offset: 0})
	s := p.follow(t, "c-flood", 0)
	kept := int64(minBufferBytes)
	if want := []wire.OutputDropped{{CommandID: "c-flood", From: 0, To: 1_000_000 - kept}}; !slices.Equal(s.dropped, want) {
		t.Fatalf("dropped %+v, want %+v", s.dropped, want)
	}
	if !bytes.Equal(s.out, bytes.Repeat([]byte("x"), int(kept))) || s.exited.Offset != 1_000_000 {
		t.Fatalf("got %d bytes after the drop, exited %+v", len(s.out), s.exited)
	}
	if !slices.Equal(s.order[:2], []string{"started", "output.dropped"}) {
		t.Fatalf("messages %v", s.order)
	}
}

func TestSessionIsAnnouncedOnEveryConnection(t *testing.T) {
	relay := newTestRelay(t)
	runTestAgent(t, relay, func(c *Config) { c.Session = []string{"sh", "-c", "echo ready; exec cat"} })

	p := relay.accept(t)
	h := p.expectHello(t)
	if len(h.Holding) != 1 || !strings.HasPrefix(h.Holding[0].CommandID, "s-") {
		t.Fatalf("holding %+v", h.Holding)
	}
	id := h.Holding[0].CommandID
	p.welcome(t)
	first := p.next(t)
	if m, ok := first.msg.(*wire.SessionOpened); !ok || m.Command.ID != id || !m.Command.Session ||
		!slices.Equal(m.Command.Argv, []string{"sh", "-c", "echo ready; exec cat"}) {
		t.Fatalf("first message %+v, want the session", first)
	}
	var out []byte
	p.until(t, func(r received) bool {
		if r.frame != nil {
			out = append(out, r.frame.Data...)
		}
		return string(out) == "ready\r\n"
	})
	p.sendInput(t, id, []byte("ping\r"))
	p.until(t, func(r received) bool {
		if r.frame != nil {
			out = append(out, r.frame.Data...)
		}
		return string(out) == "ready\r\nping\r\nping\r\n"
	})
	p.drop()

	p = relay.accept(t)
	p.expectHello(t)
	p.welcome(t, wire.Ack{CommandID: id, Offset: 7})
	seen := p.until(t, func(r received) bool { return r.frame != nil })
	if _, ok := seen[0].msg.(*wire.SessionOpened); !ok {
		t.Fatalf("after reconnect, first message %+v, want the session again", seen[0])
	}
	if f := seen[len(seen)-1].frame; f.Offset != 7 || string(f.Data) != "ping\r\nping\r\n" {
		t.Fatalf("resent frame at %d: %q", f.Offset, f.Data)
	}
}

func TestSessionThatCannotStartFailsRun(t *testing.T) {
	log, _ := testLogger(t)
	a, err := New(Config{RelayURL: "ws://127.0.0.1:1", Name: "t", ID: "a-test", Logger: log,
		Session: []string{"/no/such/program"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "start session") {
		t.Fatalf("Run = %v", err)
	}
}

// Close codes that retrying cannot fix slow the agent down to its
// slowest retry; others get the usual quick reconnect.
func TestCloseCodes(t *testing.T) {
	tests := []struct {
		name string
		code int
		slow bool
		log  string
	}{
		{"replaced", wire.CloseReplaced, true, "another agent connected with the same id"},
		{"unsupported version", wire.CloseUnsupportedVersion, true, "refused this agent's hello"},
		{"going away", wire.CloseGoingAway, false, "retrying"},
	}
	const maxBackoff = 400 * time.Millisecond
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			relay := newTestRelay(t)
			_, logs, _ := runTestAgent(t, relay, func(c *Config) { c.ReconnectMax = maxBackoff })
			p := relay.accept(t)
			p.expectHello(t)
			p.welcome(t)
			p.closeWith(tt.code, "test close")
			closed := time.Now()
			relay.accept(t)
			gap := time.Since(closed)
			if tt.slow && gap < maxBackoff/2 || !tt.slow && gap >= maxBackoff/2 {
				t.Errorf("reconnected after %s (slow: %v)", gap, tt.slow)
			}
			if !strings.Contains(logs.String(), tt.log) {
				t.Errorf("log does not say %q", tt.log)
			}
		})
	}
}

func TestShutdownStopsCommandsAndReportsThem(t *testing.T) {
	relay := newTestRelay(t)
	_, _, stop := runTestAgent(t, relay, nil)
	p := relay.accept(t)
	p.expectHello(t)
	p.welcome(t)
	p.send(t, startMsg("c-1", wire.CommandSpec{Argv: []string{"sleep", "100"}}))
	p.until(t, func(r received) bool { _, ok := r.msg.(*wire.Started); return ok })

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		stop()
	}()
	s := p.follow(t, "c-1", 0)
	if s.exited.State != wire.StateCanceled || s.exited.Signal != "SIGTERM" {
		t.Fatalf("exited %+v", s.exited)
	}
	for {
		_, _, err := p.ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code == websocket.CloseGoingAway {
			break
		}
		if err != nil {
			t.Fatalf("connection ended with %v, want close 1001", err)
		}
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

// TestFailoverToTheNextRelay: an agent given two relays loses the first
// mid-command (it drops the connection and refuses new ones, as a dead
// relay does) and moves to the second by itself, holding the running
// command; the second relay's welcome.resume says where its store ends,
// and the agent resends from exactly there, so the command's output is
// whole, once, across the move. When the second fails too, the agent goes
// back around to the first.
func TestFailoverToTheNextRelay(t *testing.T) {
	first, second := newTestRelay(t), newTestRelay(t)
	a, logs, _ := runTestAgent(t, first, func(c *Config) { c.RelayURLs = []string{second.srv.URL} })
	p := first.accept(t)
	p.expectHello(t)
	p.welcome(t)
	waitRelay(t, a, first)
	p.send(t, startMsg("c-1", wire.CommandSpec{Shell: "seq 1 5000; read x; seq 5001 10000"}))
	head := lines(1, 5000)
	var got []byte
	p.until(t, func(r received) bool {
		if r.frame != nil {
			got = append(got, r.frame.Data...)
		}
		return len(got) >= len(head)
	})
	p.send(t, &wire.Ack{CommandID: "c-1", Offset: 1000})
	p.sendInput(t, "c-1", []byte("go\r")) // the rest is printed during the move
	first.refuse.Store(true)
	p.drop()

	p = second.accept(t)
	h := p.expectHello(t)
	if len(h.Holding) != 1 || h.Holding[0].CommandID != "c-1" || h.Holding[0].Offset < int64(len(head)) {
		t.Fatalf("hello to the second relay holds %+v", h.Holding)
	}
	const stored = 1000 // what the first relay acknowledged: the shared store's end
	p.welcome(t, wire.Ack{CommandID: "c-1", Offset: stored})
	waitRelay(t, a, second)
	want := slices.Concat(head, []byte("go\r\n"), lines(5001, 10000))
	s := p.follow(t, "c-1", stored)
	if !bytes.Equal(s.out, want[stored:]) {
		t.Fatalf("the second relay got %d bytes from %d, want the %d after it", len(s.out), stored, len(want)-stored)
	}
	if s.exited.Offset != int64(len(want)) || derefOr(s.exited.ExitCode, -1) != 0 || s.started != 0 {
		t.Fatalf("exited %+v, %d started resent", s.exited, s.started)
	}
	p.send(t, &wire.Ack{CommandID: "c-1", Offset: s.exited.Offset, Done: true})
	p.until(t, func(r received) bool { _, ok := r.msg.(*wire.Heartbeat); return ok })
	if !strings.Contains(logs.String(), "trying the next one") {
		t.Errorf("the log does not say the agent moved on:\n%s", logs.String())
	}

	first.refuse.Store(false)
	second.refuse.Store(true)
	p.drop()
	if h := first.accept(t).expectHello(t); len(h.Holding) != 0 {
		t.Fatalf("back on the first relay, still holding %+v", h.Holding)
	}
}

// TestFirstRelayDownAtStart: of two relays given, the first is down when
// the agent starts; it registers with the second at once.
func TestFirstRelayDownAtStart(t *testing.T) {
	down, up := newTestRelay(t), newTestRelay(t)
	down.refuse.Store(true)
	a, logs, _ := runTestAgent(t, down, func(c *Config) { c.RelayURLs = []string{up.srv.URL} })
	p := up.accept(t)
	if h := p.expectHello(t); h.Agent == nil || h.Agent.ID != "a-test" {
		t.Fatalf("hello %+v", h)
	}
	p.welcome(t)
	waitRelay(t, a, up)
	if log := logs.String(); !strings.Contains(log, "503") || !strings.Contains(log, down.srv.URL[len("http://"):]) {
		t.Errorf("the log does not say why the first relay was passed over:\n%s", log)
	}
}

// waitRelay waits until the agent says it is connected to relay.
func waitRelay(t *testing.T, a *Agent, relay *testRelay) {
	t.Helper()
	want := "ws" + strings.TrimPrefix(relay.srv.URL, "http") + wire.AgentPath
	deadline := time.Now().Add(10 * time.Second)
	for a.Relay() != want {
		if time.Now().After(deadline) {
			t.Fatalf("the agent reports relay %q, want %q", a.Relay(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
