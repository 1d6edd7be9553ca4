package tui

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/wire"
)

// replayFixture opens the history of build-1 and replays a past command
// whose output came at 0 s, 1 s, 5 s and 20 s (and asks the terminal
// for its attributes, which a replay must never answer).
func replayFixture(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, 120, 30, fourAgents()...)
	out := "first line\r\n\x1b[csecond\r\nthird\r\nfourth\r\n"
	past := exited(running("c-old", "a-1", "build-1", "make release", t0.Add(-time.Hour)), 0, 20*time.Second)
	past.OutputBytes = int64(len(out))
	h.b.hist = []wire.Command{past}
	h.b.timing = map[string][]wire.TimingEvent{"c-old": {
		{Kind: wire.EventResize, Cols: 60, Rows: 10},
		{TimeMS: 0, Kind: wire.EventOutput, Offset: 0},
		{TimeMS: 1000, Kind: wire.EventOutput, Offset: 12},
		{TimeMS: 5000, Kind: wire.EventOutput, Offset: 23},
		{TimeMS: 20000, Kind: wire.EventOutput, Offset: 30},
	}}
	h.key("down", "h")
	h.contains("p replays")
	h.key("p")
	eventually(t, "subscribe from 0", func() bool { return slices.Contains(h.b.Calls(), "subscribe c-old 0") })
	h.contains("replay · build-1 · make release", "loading the recording")
	h.events(client.Output{CommandID: "c-old", Offset: 0, Data: []byte(out)},
		client.OutputEnd{CommandID: "c-old", Offset: int64(len(out))})
	return h
}

// at moves the harness clock to d after the replay started and ticks.
func (h *harness) replayAt(d time.Duration) {
	h.now = t0.Add(d)
	h.send(replayTickMsg{gen: h.m.replay.gen})
}

func TestReplayViewPlaysAtRecordedTimes(t *testing.T) {
	h := replayFixture(t)
	h.contains("first line", "▶ 0:00.0 / 0:20.0 · 1x")
	h.lacks("second", "History of")
	h.replayAt(999 * time.Millisecond)
	h.lacks("second")
	h.replayAt(time.Second)
	h.contains("second", "0:01.0 / 0:20.0")
	h.lacks("third")
	h.checkGeometry()

	h.key("space") // pause at 1 s
	h.contains("⏸ paused")
	h.replayAt(10 * time.Second)
	h.lacks("third")
	h.key("space", "+") // play on at 2x from 10 s of wall time
	h.contains("2x")
	h.replayAt(12 * time.Second) // 1 s + 2 s × 2
	h.contains("third", "0:05.0")
	h.lacks("fourth")
	h.key("-", "-")
	h.contains("0.5x")

	h.key("left") // back 10 s: to the start, replayed afresh
	h.contains("first line", "0:00.0")
	h.lacks("second", "third")
	h.key("]", "]")
	h.contains("fourth", "■ end", "0:20.0 / 0:20.0")
	h.key("g") // at the end: from the start, playing
	h.lacks("second")
	h.contains("▶ 0:00.0")
	h.replayAt(14 * time.Second) // at 0.5x
	h.contains("second", "0:01.0")
	h.key("G")
	h.contains("fourth")
	h.checkGeometry()

	// The replay never typed into the command, nor answered its query.
	if in, rep := h.b.Inputs(), h.b.Replies(); in != "" || rep != "" {
		t.Errorf("a replay sent input %q and replies %q", in, rep)
	}
	h.key("esc")
	h.lacks("replay ·")
	eventually(t, "unsubscribe", func() bool { return slices.Contains(h.b.Calls(), "unsubscribe c-old") })
}

func TestReplayViewIdleLimitAndSearch(t *testing.T) {
	h := replayFixture(t)
	h.key("i", "i") // idle limit 1 s: the 4 s and 15 s pauses cut to 1 s
	h.contains("idle ≤ 1s", "0:00.0 / 0:03.0", "first line")
	h.replayAt(2 * time.Second)
	h.contains("third")
	h.lacks("fourth")

	h.key("/")
	h.typeText("FOURTH")
	h.contains("find: FOURTH")
	h.key("enter")
	h.contains("fourth", `"FOURTH" 1/1`)
	h.key("/")
	h.typeText("second")
	h.key("enter", "n") // one hit: n stays on it
	h.contains("second", `"second" 1/1`)
	h.lacks("third")
	if !strings.Contains(h.m.View().Content, "\x1b[7msecond\x1b[m") {
		t.Errorf("the match is not in reverse video:\n%q", h.m.View().Content)
	}
	h.key("/")
	h.typeText("nowhere")
	h.key("enter")
	h.contains(`"nowhere": no match`)
	h.checkGeometry()
}

// TestReplayRefusesARunningCommand, and one with more output than a
// replay holds.
func TestReplayRefusesARunningCommand(t *testing.T) {
	h := newHarness(t, 120, 30, fourAgents()...)
	h.b.hist = []wire.Command{running("c-run", "a-1", "build-1", "sleep 100", t0)}
	h.key("down", "h", "p")
	h.contains("replayed once it has ended")
	h.lacks("replay ·")

	huge := exited(running("c-huge", "a-1", "build-1", "yes", t0), 0, time.Minute)
	huge.OutputBytes = maxReplayBytes + 1
	h.send(openReplayMsg{huge})
	h.contains("too much output to replay here")
	h.lacks("replay ·")
}

// TestReplayFromAPane: p on a pane of a finished command replays it.
func TestReplayFromAPane(t *testing.T) {
	h := newHarness(t, 120, 30, fourAgents()...)
	done := exited(running("c-done", "a-1", "build-1", "make", t0), 0, time.Second)
	done.OutputBytes = 4
	h.events(client.CommandChanged{Command: done})
	h.send(openCommandMsg{done})
	h.events(client.Output{CommandID: "c-done", Data: []byte("ok\r\n")}, client.OutputEnd{CommandID: "c-done", Offset: 4})
	h.key("tab", "p")
	h.contains("replay · build-1 · make", "loading the recording")
	eventually(t, "a subscription from 0", func() bool {
		return len(slices.DeleteFunc(h.b.Calls(), func(c string) bool { return c != "subscribe c-done 0" })) == 2
	})
	h.events(client.Output{CommandID: "c-done", Data: []byte("ok\r\n")}, client.OutputEnd{CommandID: "c-done", Offset: 4})
	h.contains("replay · build-1 · make", "ok", "■ end")
	h.key("esc")
	h.lacks("replay ·")
	h.contains("1 build-1 · make")
}

// TestReplayLongRecordingSeeksByItsTail: seeking in a recording of
// megabytes parses a bounded tail, and shows what the end of it drew.
func TestReplayLongRecordingSeeksByItsTail(t *testing.T) {
	h := newHarness(t, 120, 30, fourAgents()...)
	var out strings.Builder
	for i := 1; out.Len() < 3<<20; i++ {
		fmt.Fprintf(&out, "line %07d %s\r\n", i, strings.Repeat("x", 60))
	}
	out.WriteString("the last line\r\n")
	c := exited(running("c-big", "a-1", "build-1", "make", t0), 0, time.Minute)
	c.OutputBytes = int64(out.Len())
	h.b.timing = map[string][]wire.TimingEvent{"c-big": {{TimeMS: 60000, Kind: wire.EventOutput, Offset: 0}}}
	h.send(openReplayMsg{c})
	h.events(client.Output{CommandID: "c-big", Data: []byte(out.String())}, client.OutputEnd{CommandID: "c-big", Offset: c.OutputBytes})
	h.contains("0:00.0 / 1:00.0")
	h.key("G")
	h.contains("the last line", "1:00.0 / 1:00.0")
	h.key("g", "G")
	h.contains("the last line")
	if fed := h.m.replay.fed; fed > 2*replayTail {
		t.Errorf("two seeks to the end of %d bytes parsed %d", out.Len(), fed)
	}
}
