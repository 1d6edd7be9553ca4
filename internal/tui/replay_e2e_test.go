package tui

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"switchboard/internal/proctest"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
)

// TestReplayEndToEnd: in the real tui binary, under tmux, against a real
// relay and agent, a finished command is opened from its agent's
// history as a replay: it plays to its end, goes back to its start,
// finds a line, cuts its pauses, and closes; then a find in the pane's
// output highlights a match.
func TestReplayEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is not installed (CI installs it)")
	}
	bin := buildBinaries(t)
	r := relaytest.Start(t, relay.Config{})
	startAgent(t, bin, r.URL(), "replay-box")
	scr := proctest.StartTmux(t, 100, 30, fmt.Sprintf("%s --relay %s", filepath.Join(bin, "tui"), r.URL()))
	scr.WaitText("replay-box", "idle", "● connected")

	scr.Keys("Enter")
	scr.Text("echo out-$((1+1)); sleep 1; echo out-$((2+2)); sleep 3; echo out-$((3+3))")
	scr.Keys("Enter")
	scr.WaitText("out-6", "✓ exit 0")
	scr.Keys("h")
	scr.WaitText("History of replay-box", "p replays")
	scr.Keys("p")
	scr.WaitText("replay · replay-box · echo out-", "out-2", "0:0")
	scr.WaitText("out-4")
	got := scr.WaitText("out-6", "■ end")
	if !strings.Contains(got, "/ 0:04") {
		t.Errorf("the recording's length is not shown as about 4 s:\n%s", got)
	}

	scr.Keys("g") // back to the start
	scr.WaitFor("the replay back at its start", func(s string) bool {
		return strings.Contains(s, "out-2") && !strings.Contains(s, "out-6")
	})
	scr.Keys("/")
	scr.Text("OUT-6")
	scr.Keys("Enter")
	scr.WaitText(`"OUT-6" 1/1`, "out-6")
	scr.Keys("i", "g", "Space")
	scr.WaitText("idle ≤ 500ms", "/ 0:01.")
	scr.Keys("Escape")
	scr.WaitFor("the dashboard again", func(s string) bool {
		return !strings.Contains(s, "replay ·") && strings.Contains(s, "1 replay-box · echo out-")
	})

	// Find in the pane's output, copy-mode style.
	scr.Keys("1", "f")
	scr.Text("OUT-4")
	scr.Keys("Enter")
	scr.WaitText("find in pane 1: OUT-4", "match 1 of 1")
	if colored := scr.Run("capture-pane", "-p", "-e", "-t", "main"); !regexp.MustCompile(`\x1b\[4;7m(\x1b\[[0-9;]*m)*out-4`).MatchString(colored) {
		t.Errorf("the match is not in reverse video:\n%q", colored)
	}
	scr.Keys("Escape")
	scr.WaitFor("the find closed", func(s string) bool { return !strings.Contains(s, "find in pane") })
}
