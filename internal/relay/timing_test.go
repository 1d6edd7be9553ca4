package relay_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/agent"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

func (w *watcher) timing(id string) []wire.TimingEvent {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	evs, err := w.cl.Timing(ctx, id)
	if err != nil {
		w.t.Fatalf("timing of %s: %v", id, err)
	}
	return evs
}

// outputAt returns the time of the output event for the byte at offset.
func outputAt(t *testing.T, evs []wire.TimingEvent, off int64) int64 {
	t.Helper()
	at := int64(-1)
	for _, e := range evs {
		if e.Kind == wire.EventOutput && e.Offset <= off {
			at = e.TimeMS
		}
	}
	if at < 0 {
		t.Fatalf("no output event at or before offset %d in %v", off, evs)
	}
	return at
}

// TestTimingRecorded: a real agent records when output was produced, the
// terminal's size and resizes, and input only when told to; the relay
// stores them and serves them as timing events.
func TestTimingRecorded(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	startAgent(t, r, "box", nil)
	w := watch(t, r)
	w.waitAgent("box", wire.AgentIdle)
	cmds := w.run(one("box"), wire.CommandSpec{Shell: "printf a; sleep 0.4; printf b; sleep 0.3; printf c", Cols: 100, Rows: 30})
	c := w.waitEnd(cmds[0].ID)
	if w.out(c.ID) != "abc" {
		t.Fatalf("output %q", w.out(c.ID))
	}
	evs := w.timing(c.ID)
	if len(evs) == 0 || evs[0].Kind != wire.EventResize || evs[0].TimeMS != 0 || evs[0].Cols != 100 || evs[0].Rows != 30 {
		t.Fatalf("first event %v, want the starting size 100x30 at 0", evs)
	}
	a, b, cc := outputAt(t, evs, 0), outputAt(t, evs, 1), outputAt(t, evs, 2)
	// Records say when the agent read the output: a read late by more
	// than the slack (a busy machine) could shrink a gap; the upper
	// bound is for such a machine too.
	const slack = 100
	if b-a < 400-slack || cc-b < 300-slack || cc-a > 5000 {
		t.Fatalf("output at %d, %d, %d ms; want gaps of about 400 and 300 ms", a, b, cc)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].TimeMS < evs[i-1].TimeMS || evs[i].Offset < evs[i-1].Offset {
			t.Fatalf("events out of order: %v", evs)
		}
	}
	w.noErrors()
}

// TestTimingResizeAndInput: resizes are recorded; input is recorded only
// by an agent started with RecordInput.
func TestTimingResizeAndInput(t *testing.T) {
	for _, record := range []bool{false, true} {
		t.Run(map[bool]string{false: "input not recorded", true: "input recorded"}[record], func(t *testing.T) {
			r := relaytest.Start(t, relay.Config{})
			startAgent(t, r, "box", func(c *agent.Config) { c.RecordInput = record })
			w := watch(t, r)
			w.waitAgent("box", wire.AgentIdle)
			cmds := w.run(one("box"), wire.CommandSpec{Argv: []string{"cat"}})
			id := cmds[0].ID
			relaytest.Eventually(t, waitLong, "cat running", func() bool { return w.command(id).State == wire.StateRunning })
			if err := w.cl.Resize(id, 132, 43); err != nil {
				t.Fatal(err)
			}
			if err := w.cl.Input(id, []byte("typed\r")); err != nil {
				t.Fatal(err)
			}
			relaytest.Eventually(t, waitLong, "echo", func() bool { return strings.Count(w.out(id), "typed") >= 2 })
			if err := w.cl.Input(id, []byte{4}); err != nil {
				t.Fatal(err)
			}
			w.waitEnd(id)
			var resized, input bool
			for _, e := range w.timing(id) {
				resized = resized || (e.Kind == wire.EventResize && e.Cols == 132 && e.Rows == 43 && e.TimeMS > 0)
				if e.Kind == wire.EventInput {
					input = true
					if string(e.Data) != "typed\r" && string(e.Data) != "\x04" {
						t.Errorf("input event %q", e.Data)
					}
				}
			}
			if !resized || input != record {
				t.Fatalf("resize recorded: %v; input recorded: %v, want %v", resized, input, record)
			}
		})
	}
}

// timedAgent is a hand-written agent that sends timed frames.
type timedAgent struct {
	*rawPeer
	id string
}

func dialTimedAgent(t *testing.T, r *relaytest.Relay, agentID string, holding []wire.HeldCommand) (*timedAgent, *wire.Welcome) {
	t.Helper()
	p := dialRaw(t, r, wire.AgentPath)
	p.send(&wire.Hello{Protocol: wire.ProtocolVersion, Client: "timed", Holding: holding,
		Agent: &wire.AgentInfo{ID: agentID, Name: "timed", MaxConcurrent: 1}})
	w := expect[*wire.Welcome](p)
	return &timedAgent{rawPeer: p, id: agentID}, w
}

func (a *timedAgent) frame(cmd string, off int64, recs []wire.TimingRecord, data string) {
	a.t.Helper()
	sec := wire.AppendTimingSection(nil, recs)
	if err := a.ws.WriteMessage(websocket.BinaryMessage, wire.AppendTimedFrame(nil, cmd, off, sec, []byte(data))); err != nil {
		a.t.Fatal(err)
	}
}

func outRecs(first uint64, offs ...int64) []wire.TimingRecord {
	var recs []wire.TimingRecord
	for i, off := range offs {
		recs = append(recs, wire.TimingRecord{Seq: first + uint64(i), Kind: wire.TimingOutput, TimeMS: 100 * off, Offset: off})
	}
	return recs
}

// waitAck reads until an ack for cmd reaches offset.
func (a *timedAgent) waitAck(cmd string, off int64) {
	a.t.Helper()
	for {
		if ack := expect[*wire.Ack](a.rawPeer); ack.CommandID == cmd && ack.Offset >= off {
			return
		}
	}
}

// TestTimingResentToRestartedRelay: an agent resends the records it holds
// to a relay that restarted after storing some of them; each is stored
// once, and a malformed section costs its frame's timing, not its output.
func TestTimingResentToRestartedRelay(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	a, welcome := dialTimedAgent(t, r, "a-timed", nil)
	if !welcome.Timing {
		t.Fatal("welcome does not say timing")
	}
	const cmd = "s-timed"
	a.send(&wire.SessionOpened{Command: wire.Command{ID: cmd, CommandSpec: wire.CommandSpec{Argv: []string{"sh"}}}})
	a.frame(cmd, 0, outRecs(0, 0, 1, 2), "abc")
	a.waitAck(cmd, 3)
	a.frame(cmd, 3, outRecs(3, 3), "d") // received, and maybe not stored before the restart
	r.Stop()
	r.Start()

	a, welcome = dialTimedAgent(t, r, "a-timed", []wire.HeldCommand{{CommandID: cmd, Offset: 4}})
	from := welcome.Resume[0].Offset
	// It holds records 2 on (record 2's offset is the last ack's, so kept)
	// and output from where the relay asks.
	a.send(&wire.SessionOpened{Command: wire.Command{ID: cmd, CommandSpec: wire.CommandSpec{Argv: []string{"sh"}}}})
	a.frame(cmd, from, outRecs(2, 2, 3, 4, 5), "abcdef"[from:])
	// A malformed section: its output is kept, its timing refused.
	bad := wire.AppendTimedFrame(nil, cmd, 6, []byte{0, 1, 3, 0}, []byte("g"))
	if err := a.ws.WriteMessage(websocket.BinaryMessage, bad); err != nil {
		t.Fatal(err)
	}
	if e := expect[*wire.Error](a.rawPeer); e.Code != wire.CodeBadMessage || !strings.Contains(e.Message, "timing") {
		t.Fatalf("malformed section answered %+v", e)
	}
	a.send(&wire.Exited{CommandID: cmd, State: wire.StateExited, Offset: 7, EndedAt: time.Now()})
	for !expect[*wire.Ack](a.rawPeer).Done {
	}

	w := watch(t, r)
	if err := w.cl.Subscribe(cmd, 0); err != nil {
		t.Fatal(err)
	}
	relaytest.Eventually(t, waitLong, "output end", func() bool { return w.hasEnded(cmd) })
	if w.out(cmd) != "abcdefg" {
		t.Fatalf("output %q", w.out(cmd))
	}
	var offs []int64
	for _, e := range w.timing(cmd) {
		offs = append(offs, e.Offset)
	}
	if want := []int64{0, 1, 2, 3, 4, 5}; !slices.Equal(offs, want) {
		t.Fatalf("timing offsets %v, want %v", offs, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	var we *wire.Error
	if _, err := w.cl.Timing(ctx, "c-none"); !errors.As(err, &we) || we.Code != wire.CodeNotFound {
		t.Fatalf("timing of an unknown command: %v", err)
	}
}
