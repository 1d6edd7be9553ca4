package status

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"switchboard/internal/wire"
)

// TestREADMEListsTheVocabulary: the README's table is this package's.
func TestREADMEListsTheVocabulary(t *testing.T) {
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []string
	in := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Status at a glance"
		}
		if in && strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| symbol") && !strings.HasPrefix(line, "| ---") {
			rows = append(rows, line)
		}
	}
	var want []string
	for _, e := range Vocabulary() {
		want = append(want, "| "+e.Look.Symbol+" | "+e.Look.Word+" | "+string(e.Look.Tone)+" | "+e.For+" |")
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Fatalf("README's Status at a glance table:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}

func TestLooks(t *testing.T) {
	code := func(n int) *int { return &n }
	for _, tc := range []struct {
		c    wire.Command
		wait bool
		want string
	}{
		{wire.Command{State: wire.StateQueued}, false, "◌ queued"},
		{wire.Command{State: wire.StateRunning}, false, "▶ running"},
		{wire.Command{State: wire.StateRunning}, true, "◆ waiting"},
		{wire.Command{State: wire.StateRunning, Attention: wire.AttentionWaiting}, false, "◆ waiting"},
		{wire.Command{State: wire.StateRunning, Attention: wire.AttentionQuiet}, false, "◇ quiet"},
		{wire.Command{State: wire.StateRunning, Attention: wire.AttentionIdle}, false, "● idle"},
		{wire.Command{State: wire.StateRunning, Attention: wire.AttentionWorking}, false, "▶ running"},
		{wire.Command{State: wire.StateExited, ExitCode: code(0), Attention: wire.AttentionWaiting}, false, "✓ exit 0"},
		{wire.Command{State: wire.StateExited, ExitCode: code(0)}, false, "✓ exit 0"},
		{wire.Command{State: wire.StateExited, ExitCode: code(3)}, false, "✗ exit 3"},
		{wire.Command{State: wire.StateExited, Signal: "SIGKILL"}, false, "✗ SIGKILL"},
		{wire.Command{State: wire.StateCanceled}, false, "⊘ cancelled"},
		{wire.Command{State: wire.StateTimedOut}, false, "⏱ timed out"},
		{wire.Command{State: wire.StateLost}, false, "? lost"},
		{wire.Command{State: wire.StateRejected}, false, "✗ rejected"},
	} {
		if got := Command(tc.c, tc.wait).String(); got != tc.want {
			t.Errorf("Command(%s, waiting %v) = %q, want %q", tc.c.State, tc.wait, got, tc.want)
		}
	}
	for _, tc := range []struct {
		a    wire.Agent
		wait bool
		want string
	}{
		{wire.Agent{Status: wire.AgentIdle}, false, "● idle"},
		{wire.Agent{Status: wire.AgentBusy, Running: 1}, false, "▶ busy"},
		{wire.Agent{Status: wire.AgentBusy, Running: 1}, true, "◆ waiting"},
		{wire.Agent{Status: wire.AgentBusy, Running: 1, Attention: wire.AttentionWaiting}, false, "◆ waiting"},
		{wire.Agent{Status: wire.AgentBusy, Running: 1, Attention: wire.AttentionQuiet}, false, "◇ quiet"},
		{wire.Agent{Status: wire.AgentBusy, Running: 1, Attention: wire.AttentionIdle}, false, "● idle"},
		{wire.Agent{Status: wire.AgentBusy, Running: 1, Attention: wire.AttentionWorking}, false, "▶ busy"},
		{wire.Agent{Status: wire.AgentOffline}, true, "○ offline"},
	} {
		if got := Agent(tc.a, tc.wait).String(); got != tc.want {
			t.Errorf("Agent(%s, waiting %v) = %q, want %q", tc.a.Status, tc.wait, got, tc.want)
		}
	}
}
