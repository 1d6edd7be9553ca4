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

// TestSearchViewOpensHitsCommand: S opens the search view; a typed query
// goes to the relay on enter; its lines are listed with their agent and
// command; enter on one opens its command in a pane (read from history);
// esc closes the view.
func TestSearchViewOpensHitsCommand(t *testing.T) {
	h := newHarness(t, 120, 30, fourAgents()...)
	past := exited(running("c-old", "a-1", "build-1", "make release", t0.Add(-time.Hour)), 1, 90*time.Second)
	h.b.hist = []wire.Command{past}
	h.b.hits = []wire.SearchHit{
		{CommandID: "c-new", AgentID: "a-2", AgentName: "build-2", Command: "go test", Text: "panic: second", CreatedAt: t0},
		{CommandID: "c-old", AgentID: "a-1", AgentName: "build-1", Command: "make release", Text: "panic: first", Offset: 18, CreatedAt: t0},
	}
	h.key("S")
	h.contains("Search all output")
	h.key("p", "a", "n", "i", "c", ":", "enter")
	h.contains("2 lines, newest first", "panic: second", "panic: first", "build-1", "make release")
	if got := h.b.searched; !slices.Equal(got, []string{"panic:"}) {
		t.Fatalf("searched %q", got)
	}
	h.key("down", "enter")
	h.lacks("Search all output")
	eventually(t, "subscribe to c-old", func() bool { return slices.Contains(h.b.Calls(), "subscribe c-old 0") })
	// The pane shows the hit's line, found as the pane's find does, not
	// the end of the output.
	var out strings.Builder
	for i := 1; i <= 200; i++ {
		if i == 60 {
			out.WriteString("panic: first\r\n")
		}
		fmt.Fprintf(&out, "line %d\r\n", i)
	}
	h.events(client.Output{CommandID: "c-old", Offset: 0, Data: []byte(out.String())},
		client.OutputEnd{CommandID: "c-old", Offset: int64(out.Len())})
	h.contains("1 build-1 · make release", "panic: first", "line 59 ", "lines back")
	h.lacks("line 200 ")
	h.key("esc")

	h.key("S", "x", "esc")
	h.lacks("Search all output")
	h.checkGeometry()
}

// TestHistorySlashSearchesAllOutput: / in an agent's history (where the
// agent list's filter key has no use) opens the search over all output.
func TestHistorySlashSearchesAllOutput(t *testing.T) {
	h := newHarness(t, 120, 30, fourAgents()...)
	h.b.hist = []wire.Command{exited(running("c-old", "a-1", "build-1", "make release", t0.Add(-time.Hour)), 0, time.Second)}
	h.key("h")
	h.contains("History of ", "/ searches all output")
	h.key("/")
	h.lacks("History of ")
	h.contains("Search all output")
	h.key("esc")
	h.lacks("Search all output")
	h.checkGeometry()
}
