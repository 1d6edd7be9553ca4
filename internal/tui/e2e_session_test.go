package tui

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/internal/proctest"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
)

// queryingSession asks its terminal everything a terminal answers by
// itself, before anyone watches, then shows every byte it reads (cat -v
// in a raw terminal).
var queryingSession = []string{"sh", "-c", `printf '\033[c\033[>c\033[5n\033[6n\033[?6n\033]10;?\007\033]11;?\033\\\033[?2004$p\033[4$p\033P$qm\033\\\033[18t\033[?1004h'; ` +
	`stty raw -echo; printf 'READY\r\n'; exec cat -v`}

// startSessionDashboard runs a relay, an agent named sess with the
// querying session, and the dashboard in tmux, and waits for the session.
func startSessionDashboard(t *testing.T) *proctest.Tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is not installed (CI installs it; apt-get install -y tmux)")
	}
	bin := buildBinaries(t)
	r := relaytest.Start(t, relay.Config{})
	startAgent(t, bin, r.URL(), "sess", append([]string{"--"}, queryingSession...)...)
	logFile := filepath.Join(t.TempDir(), "tui.log")
	scr := proctest.StartTmux(t, 100, 30, fmt.Sprintf("%s --relay %s --log-file %s --log-level debug", filepath.Join(bin, "tui"), r.URL(), logFile))
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("tui log:\n%s", b)
		}
	})
	// The agent runs its session: busy, or waiting once its agent sees the
	// session reading its terminal.
	scr.WaitFor("sess running its session", func(s string) bool {
		return strings.Contains(s, "sess") && strings.Contains(s, "● connected") && (strings.Contains(s, "busy") || strings.Contains(s, "waiting"))
	})
	return scr
}

// TestOpenRunningSessionDrawsAtOnce: o on an agent whose session is quiet
// shows what the session printed, without waiting for more output.
func TestOpenRunningSessionDrawsAtOnce(t *testing.T) {
	scr := startSessionDashboard(t)
	scr.Keys("o")
	scr.WaitText("READY", "sess · sh -c")
}

// TestDashboardAnswersNoReplayedQueries opens the session and takes the
// keyboard at once, before the replayed queries are drawn: the program's
// first input is the key the user pressed, not the emulator's answers.
func TestDashboardAnswersNoReplayedQueries(t *testing.T) {
	scr := startSessionDashboard(t)
	scr.Keys("o", "i")
	scr.WaitText("READY", "INTERACTIVE")
	scr.Text("Z")
	got := scr.WaitFor("the typed key", func(s string) bool { return paneLineAfter(s, "READY") != "" })
	if line := paneLineAfter(got, "READY"); line != "Z" {
		t.Fatalf("the program read %q after READY, want only the Z typed:\n%s", line, got)
	}
}

// paneLineAfter returns the text of the pane line below the one holding
// marker, without the pane's borders.
func paneLineAfter(screen, marker string) string {
	lines := strings.Split(screen, "\n")
	for i, l := range lines {
		if strings.Contains(l, marker) && i+1 < len(lines) {
			next := lines[i+1]
			if j := strings.Index(next, "║"); j >= 0 {
				next = next[j+len("║"):]
			}
			next = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(next), "║│"))
			return next
		}
	}
	return ""
}

// TestStopAndRestartSession: X asks before it stops a session, and R
// starts it again, in a new pane.
func TestStopAndRestartSession(t *testing.T) {
	scr := startSessionDashboard(t)
	scr.Keys("o")
	scr.WaitFor("the session running", func(s string) bool { return strings.Contains(s, "READY") && live(s) })
	scr.Keys("X")
	scr.WaitText("Stop the session of sess")
	scr.Keys("n")
	scr.WaitText("not cancelled")
	// Still running: shown as running, or, once its agent sees it reading
	// its terminal, as waiting; never cancelled.
	if s := scr.Screen(); strings.Contains(s, "⊘ cancelled") || !live(s) {
		t.Fatalf("the session stopped although the answer was no:\n%s", s)
	}
	scr.Keys("X")
	scr.WaitText("Stop the session of sess")
	scr.Keys("y")
	scr.WaitText("⊘ cancelled")
	scr.Keys("R")
	scr.WaitText("Start the session of sess")
	scr.Keys("y")
	scr.WaitFor("the new session in a pane", func(s string) bool {
		// Count the panes' lines: the agent list may show READY too, as
		// the reason its waiting session gives.
		return live(s) && strings.Contains(s, "⊘ cancelled") && strings.Count(s, "│READY") == 2
	})
}

// TestUnreachableRelaySaysWhereAndWhy: the dashboard started against an
// address where no relay listens says which address and why, not only
// that it will try again.
func TestUnreachableRelaySaysWhereAndWhy(t *testing.T) {
	bin := buildBinaries(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	scr := proctest.StartTmux(t, 120, 30, fmt.Sprintf("%s --relay ws://%s --log-file %s", filepath.Join(bin, "tui"), addr, filepath.Join(t.TempDir(), "tui.log")))
	scr.WaitText("ws://"+addr+": connection refused: is the relay running?", "reconnecting")
}
