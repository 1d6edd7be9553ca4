package tui

import (
	"testing"
	"time"

	"switchboard/internal/client"
)

// A pane's output after a quiet spell is parsed at once (a keystroke's
// echo waits for no tick), and output that follows a frame waits for the
// rest of the frame interval, so a busy pane is parsed once a frame.
func TestFramePacing(t *testing.T) {
	h := newHarness(t, 100, 30, fourAgents()...)
	cmd := running("c-1", "a-1", "build-1", "cat", t0)
	h.events(client.CommandChanged{Command: cmd})
	h.send(openCommandMsg{cmd})
	h.frames()
	now := time.Now()
	if w := h.m.frameWait(now.Add(frameInterval)); w != 0 {
		t.Fatalf("a frame interval after the last frame, the next waits %v", w)
	}
	last := h.m.lastFrame
	if last.IsZero() || last.After(now) {
		t.Fatalf("last frame at %v, before %v expected", last, now)
	}
	if w := h.m.frameWait(last.Add(5 * time.Millisecond)); w != frameInterval-5*time.Millisecond {
		t.Fatalf("5 ms after a frame, the next waits %v", w)
	}
	m := &Model{}
	if w := m.frameWait(now); w != 0 {
		t.Fatalf("the first frame waits %v", w)
	}
}
