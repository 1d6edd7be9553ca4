package relay_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/agent"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// startedCommand runs a command on a raw agent named box (registered by
// the caller) and returns its id once the raw agent reported it started.
func startedCommand(t *testing.T, box *rawPeer, w *watcher) string {
	t.Helper()
	cmds := w.run(one("box"), wire.CommandSpec{Shell: "make"})
	start := expect[*wire.Start](box)
	box.send(&wire.Started{CommandID: start.Command.ID, PID: 4242, StartedAt: time.Now()})
	relaytest.Eventually(t, waitLong, "running", func() bool { return w.command(cmds[0].ID).State == wire.StateRunning })
	return cmds[0].ID
}

func (p *rawPeer) sendOutput(id string, offset int64, data string) {
	p.t.Helper()
	if err := p.ws.WriteMessage(websocket.BinaryMessage, wire.OutputFrame(id, offset, []byte(data))); err != nil {
		p.t.Fatal(err)
	}
}

// TestExitWithMissingOutputEnds: an exited announcing more output than
// came ends the command after the relay's wait, the missing bytes counted
// as lost; it stayed running forever.
func TestExitWithMissingOutputEnds(t *testing.T) {
	r := relaytest.Start(t, relay.Config{ExitWait: 300 * time.Millisecond})
	box, _ := agentAs(t, r, "", "box")
	w := watch(t, r)
	id := startedCommand(t, box, w)
	box.sendOutput(id, 0, "hello")
	code := 0
	box.send(&wire.Exited{CommandID: id, State: wire.StateExited, ExitCode: &code, Offset: 100, EndedAt: time.Now()})
	c := w.waitEnd(id)
	if c.State != wire.StateExited || c.LostBytes != 95 || c.OutputBytes != 100 {
		t.Fatalf("command %s, lost %d, output %d; want exited with 95 of 100 bytes lost", c.State, c.LostBytes, c.OutputBytes)
	}
	if got := w.out(id); got != "hello" {
		t.Errorf("output %q, want hello", got)
	}
}

// TestOutputGapWithoutDropCountsAsLost: an output frame past the bytes so
// far, with no output.dropped for the gap, is kept, and the gap counted as
// lost bytes and told to the agent; dashboards did not learn of it.
func TestOutputGapWithoutDropCountsAsLost(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	box, _ := agentAs(t, r, "", "box")
	w := watch(t, r)
	id := startedCommand(t, box, w)
	box.sendOutput(id, 0, "ab")
	box.sendOutput(id, 10, "cd")
	e := expect[*wire.Error](box)
	if e.Code != wire.CodeInvalidArgument || e.CommandID != id || !strings.Contains(e.Message, "[2, 10)") {
		t.Errorf("agent was told %+v, want invalid_argument about bytes [2, 10)", e)
	}
	relaytest.Eventually(t, waitLong, "the gap counted as lost", func() bool { return w.command(id).LostBytes == 8 })
}

// TestNoInputRefusedOncePerSecond: input for an agent that takes none is
// answered with one forbidden error a second per command, not one per key.
func TestNoInputRefusedOncePerSecond(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	startAgent(t, r, "watch-only", func(c *agent.Config) { c.NoInput, c.Session = true, []string{"cat"} })
	w := watch(t, r)
	id := w.waitSession("watch-only").ID
	p := dialRaw(t, r, wire.DashboardPath)
	helloDashboard(p)
	keys := func(n int) {
		for range n {
			if err := p.ws.WriteMessage(websocket.BinaryMessage, wire.InputFrame(id, []byte("x"))); err != nil {
				t.Fatal(err)
			}
		}
		p.send(&wire.HistoryQuery{RequestID: "barrier", Limit: 1}) // answered after every key
	}
	count := func() int {
		n := 0
		for {
			switch m := must(p.next()).(type) {
			case *wire.Error:
				if m.Code != wire.CodeForbidden || m.CommandID != id {
					t.Fatalf("error %+v, want forbidden for %s", m, id)
				}
				n++
			case *wire.HistoryResult:
				return n
			}
		}
	}
	keys(50)
	if n := count(); n != 1 {
		t.Fatalf("50 keys got %d errors, want 1", n)
	}
	// More keys: the next error comes once the second has passed.
	first := time.Now()
	for n := 0; n == 0; n = count() {
		keys(1)
	}
	if d := time.Since(first); d < 900*time.Millisecond {
		t.Fatalf("a second error came %s after the first, want about a second", d)
	}
}

func must(m wire.Message, err error) wire.Message {
	if err != nil {
		panic(err)
	}
	return m
}
