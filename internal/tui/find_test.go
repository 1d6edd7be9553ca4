package tui

import (
	"fmt"
	"strings"
	"testing"

	"switchboard/internal/client"
)

// findFixture opens a pane on 200 lines of output, four of which say
// "error at step N".
func findFixture(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, 100, 30, fourAgents()...)
	cmd := running("c-1", "a-1", "build-1", "make", t0)
	h.events(client.CommandChanged{Command: cmd})
	h.send(openCommandMsg{cmd})
	var out strings.Builder
	for i := 1; i <= 200; i++ {
		if i == 20 || i == 120 || i == 125 || i == 190 {
			fmt.Fprintf(&out, "\x1b[32mok\x1b[0m Error at step %d\r\n", i)
			continue
		}
		fmt.Fprintf(&out, "line %d\r\n", i)
	}
	h.events(client.Output{CommandID: "c-1", Data: []byte(out.String())})
	h.key("tab") // focus the panes
	return h
}

// marked reports whether the view shows text in reverse video (SGR 7),
// underlined (SGR 4) when it is the match jumped to.
func (h *harness) marked(text string, current bool) bool {
	sgr := "\x1b[7m"
	if current {
		sgr = "\x1b[4;7m"
	}
	return strings.Contains(h.m.View().Content, sgr+text+"\x1b[m")
}

func TestFindInPaneJumpsBetweenMatches(t *testing.T) {
	h := findFixture(t)
	h.key("f")
	h.typeText("ERROR")
	h.contains("find in pane 1: ERROR")
	h.key("enter")
	h.contains("match 1 of 4", "Error at step 190")
	if !h.marked("Error", true) {
		t.Fatalf("the match is not highlighted:\n%q", h.m.View().Content)
	}
	h.key("n")
	h.contains("match 2 of 4", "Error at step 125")
	h.key("n")
	h.contains("match 3 of 4", "Error at step 120", "Error at step 125")
	h.lacks("line 200")
	if !h.marked("Error", true) || !h.marked("Error", false) {
		t.Fatalf("the current match (120) and another (125) are not both marked:\n%q", h.m.View().Content)
	}
	h.key("n")
	h.contains("match 4 of 4", "Error at step 20")
	h.key("n") // wraps to the newest
	h.contains("match 1 of 4", "Error at step 190")
	h.key("N") // nothing newer: wraps to the oldest
	h.contains("match 4 of 4", "Error at step 20")
	h.key("pgdown") // scrolling still scrolls
	h.contains("match 4 of 4")
	h.checkGeometry()

	h.key("f")
	h.typeText("nowhere")
	h.key("enter")
	h.contains("find in pane 1: nowhere", "no match")

	h.key("esc")
	h.contains("line 200")
	h.lacks("find in pane")
	if h.marked("Error", true) || h.marked("Error", false) {
		t.Errorf("marks left after esc")
	}
	h.key("down") // the pane's keys are its own again
	if h.m.panes.focused().find != nil {
		t.Errorf("find still open")
	}
}

func TestFindInPaneSearchesNewOutput(t *testing.T) {
	h := findFixture(t)
	h.key("f")
	h.typeText("error")
	h.key("enter")
	h.contains("match 1 of 4")
	h.events(client.Output{CommandID: "c-1", Offset: 1 << 20, Data: []byte("ERROR: late\r\n")})
	h.key("N")
	h.contains("ERROR: late", "match 1 of 5")
}
