package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"switchboard/internal/client"
	"switchboard/internal/wire"
)

func fourAgents() []wire.Agent {
	return []wire.Agent{
		agent("a-1", "build-1", wire.AgentIdle, 0, map[string]string{"pool": "ci"}),
		agent("a-2", "build-2", wire.AgentBusy, 2, map[string]string{"pool": "ci", "os": "linux"}),
		agent("a-3", "laptop", wire.AgentOffline, 0, nil),
		agent("a-4", "ai-box", wire.AgentBusy, 1, map[string]string{"kind": "ai"}),
	}
}

func running(id, agentID, agentName, shell string, started time.Time) wire.Command {
	return wire.Command{ID: id, AgentID: agentID, AgentName: agentName, CommandSpec: wire.CommandSpec{Shell: shell, Cols: 60, Rows: 10},
		State: wire.StateRunning, StartedAt: started, CreatedAt: started}
}

func exited(c wire.Command, code int, took time.Duration) wire.Command {
	c.State, c.ExitCode, c.DurationMS, c.EndedAt = wire.StateExited, &code, took.Milliseconds(), c.StartedAt.Add(took)
	return c
}

func TestAgentListShowsStatusBySymbolAndWord(t *testing.T) {
	h := newHarness(t, 100, 30, fourAgents()...)
	h.contains("AGENTS 4",
		"● build-1", "idle", "pool=ci",
		"▶ build-2", "busy", "os=linux", "2 run",
		"○ laptop", "offline", "1m30s ago",
		"▶ ai-box", "kind=ai",
		"● connected", "4 agents")
	h.checkGeometry()
}

// waitingOn marks command c, and its agent a, waiting with reason, as
// the relay's events would.
func waitingOn(a wire.Agent, c wire.Command, reason string, since time.Time) []any {
	c.Attention, c.AttentionReason, c.AttentionSince = wire.AttentionWaiting, reason, since
	a.Attention, a.AttentionReason, a.AttentionCommand, a.AttentionSince = wire.AttentionWaiting, reason, c.ID, since
	return []any{client.CommandChanged{Command: c}, client.AgentChanged{Agent: a}}
}

// Waiting is what the relay says, not silence: a silent command stays as
// it is, a waiting one is marked, with its question, at once.
func TestWaitingComesFromTheRelay(t *testing.T) {
	agents := fourAgents()
	h := newHarness(t, 120, 30, agents...)
	cmd := running("c-ai", "a-4", "ai-box", "claude", t0)
	h.events(client.CommandChanged{Command: cmd})
	h.now = t0.Add(time.Minute)
	h.send(clockMsg{})
	h.lacks("waiting")

	h.events(waitingOn(agents[3], cmd, "Claude needs your permission to use Bash", t0.Add(50*time.Second))...)
	h.contains("◆ ai-box", "waiting", "◆ Claude needs your permission", "◆ 1 waiting")
	if title := h.m.View().WindowTitle; !strings.HasPrefix(title, "(1 waiting) switchboard") {
		t.Fatalf("window title %q", title)
	}
	h.send(openCommandMsg{cmd})
	h.frames()
	h.contains("◆ waiting")

	// Answered: the relay says it works again.
	cmd.Attention = wire.AttentionWorking
	a := agents[3]
	a.Attention = wire.AttentionWorking
	h.events(client.CommandChanged{Command: cmd}, client.AgentChanged{Agent: a})
	h.lacks("◆ waiting", "◆ 1 waiting", "permission")
	h.checkGeometry()
}

// A program's window title (OSC 0/2, kept by the relay) names its pane.
func TestPaneShowsTheWindowTitle(t *testing.T) {
	h := newHarness(t, 120, 30, fourAgents()...)
	cmd := running("c-ai", "a-4", "ai-box", "claude --resume", t0)
	h.events(client.CommandChanged{Command: cmd})
	h.send(openCommandMsg{cmd})
	h.frames()
	h.contains("ai-box · claude --resume")
	cmd.Title = "✳ Refactor the parser"
	h.events(client.CommandChanged{Command: cmd})
	h.contains("ai-box · ✳ Refactor the parser")
	h.lacks("claude --resume")
}

func TestWaitingAgentsComeFirst(t *testing.T) {
	agents := fourAgents()
	h := newHarness(t, 100, 30, agents...)
	c2 := running("c-2", "a-2", "build-2", "make", t0)
	c4 := running("c-4", "a-4", "ai-box", "claude", t0)
	h.events(waitingOn(agents[3], c4, "Allow?", t0.Add(20*time.Second))...)
	h.events(waitingOn(agents[1], c2, "Overwrite? [y/N]", t0.Add(10*time.Second))...)
	s := h.screen()
	b2, ai, b1 := strings.Index(s, "build-2"), strings.Index(s, "ai-box"), strings.Index(s, "build-1")
	if !(b2 < ai && ai < b1) {
		t.Fatalf("want build-2 (waiting longest), ai-box, then the rest by name:\n%s", s)
	}
}

// n goes to the next waiting agent, the one waiting longest first, and
// opens what waits; r answers it without typing into the pane.
func TestNextWaitingAndQuickReply(t *testing.T) {
	agents := fourAgents()
	h := newHarness(t, 120, 30, agents...)
	h.key("n")
	h.contains("no agent is waiting")

	c2 := running("c-2", "a-2", "build-2", "make deploy", t0)
	c4 := running("c-4", "a-4", "ai-box", "claude", t0)
	h.events(waitingOn(agents[3], c4, "Allow?", t0.Add(20*time.Second))...)
	h.events(waitingOn(agents[1], c2, "Deploy to prod? [y/N]", t0.Add(10*time.Second))...)
	h.key("n")
	if p := h.m.panes.focused(); p == nil || p.id != "c-2" || h.m.focus != focusPanes {
		t.Fatalf("n should open build-2's waiting command first; panes %v", h.m.panes.panes)
	}
	h.key("n")
	if p := h.m.panes.focused(); p == nil || p.id != "c-4" {
		t.Fatal("a second n should open ai-box's")
	}
	h.key("[") // back to build-2's pane
	h.key("r")
	h.contains("build-2 asks", "Deploy to prod? [y/N]")
	h.typeText("y")
	h.key("enter")
	eventually(t, "the quick reply", func() bool { return slices.Contains(h.b.Calls(), `quick reply c-2 "y\r"`) })
	if h.b.Inputs() != "" {
		t.Fatalf("a quick reply went out as typed input %q", h.b.Inputs())
	}
	// Nothing waits on a busy command: r says so and sends nothing.
	h.key("tab", "tab") // the list
	h.m.list.show("a-1")
	h.key("r")
	h.contains("nothing waits here")
	h.checkGeometry()
}

// When an agent starts waiting, the user's terminal gets a bell and an
// OSC 9 notification (once a second at most); not with NoNotify, not when
// the user is typing into that very command, not for agents that were
// already waiting when the dashboard started.
func TestStartingToWaitRingsTheTerminal(t *testing.T) {
	agents := fourAgents()
	h := newHarness(t, 120, 30, agents...)
	c4 := running("c-4", "a-4", "ai-box", "claude", t0)
	_, cmd := h.m.Update(eventsMsg{waitingOn(agents[3], c4, "Allow?", t0)})
	if got := rawOf(cmd); !slices.Equal(got, []string{"\x1b]9;switchboard: ai-box is waiting: Allow?\x1b\\\a"}) {
		t.Fatalf("notifications %q", got)
	}
	h.now = h.now.Add(notifyEvery)
	if _, cmd := h.m.Update(eventsMsg{waitingOn(agents[3], c4, "Allow?", t0)}); rawOf(cmd) != nil {
		t.Fatal("rang again for an agent that was already waiting")
	}
	// Two agents within a second: one ring, when the second has passed.
	c2 := running("c-2", "a-2", "build-2", "make", t0)
	c1 := running("c-1", "a-1", "build-1", "make", t0)
	h.now = h.now.Add(notifyEvery)
	_, cmd = h.m.Update(eventsMsg{waitingOn(agents[1], c2, "Q2?", t0)})
	if len(rawOf(cmd)) != 1 {
		t.Fatal("no ring for build-2")
	}
	if _, cmd := h.m.Update(eventsMsg{waitingOn(agents[0], c1, "Q1?", t0)}); rawOf(cmd) != nil {
		t.Fatal("rang twice within a second")
	}
	h.now = h.now.Add(notifyEvery)
	if _, cmd := h.m.Update(clockMsg{}); !slices.Equal(rawOf(cmd), []string{"\x1b]9;switchboard: build-1 is waiting: Q1?\x1b\\\a"}) {
		t.Fatalf("the held ring: %q", rawOf(cmd))
	}

	quiet := New(h.b, Options{NoNotify: true, Now: func() time.Time { return h.now }})
	defer quiet.Close()
	if _, cmd := quiet.Update(eventsMsg{waitingOn(agents[1], c2, "Q?", t0)}); rawOf(cmd) != nil {
		t.Fatal("rang with NoNotify")
	}
	b := newFakeBackend()
	already := agents[3]
	already.Attention = wire.AttentionWaiting
	b.state.Agents["a-4"] = already
	late := New(b, Options{Now: func() time.Time { return h.now }})
	defer late.Close()
	if _, cmd := late.Update(clockMsg{}); rawOf(cmd) != nil {
		t.Fatal("rang for an agent already waiting when the dashboard started")
	}
}

// rawOf runs cmd (batches included, skipping the ones that wait, such
// as ticks) and returns what it writes raw to the terminal.
func rawOf(cmd tea.Cmd) []string {
	if cmd == nil {
		return nil
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-done:
	case <-time.After(200 * time.Millisecond):
		return nil
	}
	switch msg := msg.(type) {
	case tea.RawMsg:
		return []string{fmt.Sprint(msg.Msg)}
	case tea.BatchMsg:
		var out []string
		for _, c := range msg {
			out = append(out, rawOf(c)...)
		}
		return out
	}
	return nil
}

func TestFilterAgents(t *testing.T) {
	h := newHarness(t, 100, 30, fourAgents()...)
	h.key("/")
	h.typeText("pool=ci")
	h.contains("AGENTS 2 of 4", "build-1", "build-2")
	h.lacks("laptop", "ai-box")
	h.key("enter") // keep the filter, leave the input
	h.contains("/pool=ci", "build-2")
	h.key("down")
	h.contains("run on build-2")
	h.key("esc") // clears the selection first, then the filter
	h.key("esc")
	h.contains("AGENTS 4", "laptop")
	h.key("/")
	h.typeText("nomatch")
	h.contains("no agent matches the filter")
	h.key("esc")
	h.contains("AGENTS 4")
	// Status and attention words filter too, as the page's filter does.
	h.key("/")
	h.typeText("offline")
	h.contains("AGENTS 1 of 4", "laptop")
	h.key("esc", "/")
	h.typeText("busy")
	h.contains("AGENTS 2 of 4", "build-2", "ai-box")
	h.key("esc")
	h.checkGeometry()
}

// TestFocusIsVisibleAndEscGoesBack: the agent list's title is a filled
// bar while the list has the keyboard; after a run the panes have it,
// and esc gives it back to the list.
func TestFocusIsVisibleAndEscGoesBack(t *testing.T) {
	h := newHarness(t, 100, 30, fourAgents()...)
	focusedTitle := h.m.list.View()[0]
	h.key(":")
	h.typeText("ls")
	h.key("enter")
	if h.m.focus != focusPanes {
		t.Fatalf("after a run the focus is %d, want the panes", h.m.focus)
	}
	if h.m.list.View()[0] == focusedTitle {
		t.Fatal("the agent list's title looks the same with and without the keyboard")
	}
	h.key("esc")
	if h.m.focus != focusList || h.m.list.View()[0] != focusedTitle {
		t.Fatalf("esc after a run: focus %d, title %q", h.m.focus, h.m.list.View()[0])
	}
}

func TestMultiSelectRunsOnEveryTarget(t *testing.T) {
	h := newHarness(t, 120, 30, fourAgents()...)
	h.contains("run on ai-box ❯") // agents sort by name
	h.key("down")
	h.contains("run on build-1 ❯")
	h.key("space", "space") // select build-1 and build-2 (the cursor moves down)
	h.contains("2 selected", "✓ ● build-1", "✓ ▶ build-2", "run on build-1, build-2 ❯")
	h.key("enter")
	h.typeText("make test")
	h.key("enter")
	if len(h.b.runs) != 1 || h.b.runs[0].Shell != "make test" || h.b.runs[0].Cols < 10 {
		t.Fatalf("runs = %+v", h.b.runs)
	}
	eventually(t, "subscriptions", func() bool {
		c := h.b.Calls()
		return slices.Contains(c, "subscribe c-1 0") && slices.Contains(c, "subscribe c-2 0")
	})
	h.contains("1 build-1 · make test", "2 build-2 · make test", "◌ queued", "started on 2 agent(s): make test")
	h.key("esc") // esc in the pane area clears nothing harmful
	h.checkGeometry()
}

func TestCommandBarHistory(t *testing.T) {
	h := newHarness(t, 100, 30, fourAgents()...)
	h.key(":")
	for _, line := range []string{"echo one", "echo two", "echo three"} {
		h.typeText(line)
		h.key("enter")
		h.key(":")
	}
	h.typeText("draft")
	h.key("up")
	h.contains("❯ echo three")
	h.key("up", "up")
	h.contains("❯ echo one")
	h.key("up") // stays at the oldest
	h.contains("❯ echo one")
	h.key("down", "down", "down")
	h.contains("❯ draft")
	h.key("esc")
	h.contains("run on ai-box ❯")
}

func TestPaneTitleFollowsCommand(t *testing.T) {
	h := newHarness(t, 120, 30, fourAgents()...)
	cmd := running("c-7", "a-2", "build-2", "go test ./...", t0.Add(-12*time.Second))
	h.events(client.CommandChanged{Command: cmd})
	h.send(openCommandMsg{cmd})
	h.events(client.Output{CommandID: "c-7", Offset: 0, Data: []byte("\x1b[32mok\x1b[0m  switchboard/internal/wire\r\n")})
	h.contains("1 build-2 · go test ./...", "▶ running 12s", "ok  switchboard/internal/wire")
	if !strings.Contains(h.m.View().Content, "\x1b[32m") {
		t.Fatal("pane lost the output's colour")
	}
	h.events(client.CommandChanged{Command: exited(cmd, 0, 3200*time.Millisecond)}, client.OutputEnd{CommandID: "c-7", Offset: 31})
	h.contains("✓ exit 0 · 3.2s")
	h.events(client.CommandChanged{Command: exited(cmd, 2, 1500*time.Millisecond)})
	h.contains("✗ exit 2 · 1.5s")
	h.checkGeometry()
}

func TestPaneFollowsRemoteSizeOfOthersCommands(t *testing.T) {
	h := newHarness(t, 120, 30, fourAgents()...)
	cmd := running("c-7", "a-2", "build-2", "top", t0)
	h.events(client.CommandChanged{Command: cmd})
	h.send(openCommandMsg{cmd})
	p := h.m.panes.panes[0]
	if p.t.cols != 60 || p.t.rows != 10 {
		t.Fatalf("emulator %dx%d, want the command's 60x10", p.t.cols, p.t.rows)
	}
	if slices.ContainsFunc(h.b.Calls(), func(c string) bool { return strings.HasPrefix(c, "resize") }) {
		t.Fatal("watching someone else's command resized it")
	}
	cmd.Cols, cmd.Rows = 100, 20
	h.events(client.CommandChanged{Command: cmd})
	if p.t.cols != 100 || p.t.rows != 20 {
		t.Fatalf("emulator %dx%d after the command was resized to 100x20", p.t.cols, p.t.rows)
	}
}

func TestInteractiveModeSendsEveryKey(t *testing.T) {
	h := newHarness(t, 120, 30, fourAgents()...)
	cmd := running("c-cat", "a-1", "build-1", "cat", t0)
	h.events(client.CommandChanged{Command: cmd})
	h.send(openCommandMsg{cmd})
	h.key("i")
	h.contains("INTERACTIVE", "ctrl+] releases", "every key goes to build-1: cat", "keys go to the process")
	eventually(t, "resize to the pane", func() bool {
		for _, c := range h.b.Calls() {
			if strings.HasPrefix(c, "resize c-cat ") {
				return true
			}
		}
		return false
	})
	h.key("h", "i", "enter", "ctrl+c", "ctrl+d", "up", "q", "?", "tab", "esc", "alt+x", "ctrl+left", "f5", "backspace")
	want := "hi\r\x03\x04\x1b[Aq?\t\x1b\x1bx\x1b[1;5D\x1b[15~\x7f"
	eventually(t, "input", func() bool { return h.b.Inputs() == want })
	// The program switches the cursor keys to application mode.
	h.events(client.Output{CommandID: "c-cat", Offset: 0, Data: []byte("\x1b[?1h")})
	h.key("up")
	eventually(t, "app cursor key", func() bool { return strings.HasSuffix(h.b.Inputs(), "\x1bOA") })
	h.send(tea.PasteMsg{Content: "pasted"})
	eventually(t, "paste", func() bool { return strings.HasSuffix(h.b.Inputs(), "pasted") })
	h.contains("● connected") // the connection stays in view
	h.key("ctrl+]")
	h.lacks("INTERACTIVE")
	h.contains("● connected")
	h.checkGeometry()
}

func TestInteractiveRefusedForFinishedCommand(t *testing.T) {
	h := newHarness(t, 100, 30, fourAgents()...)
	cmd := exited(running("c-1", "a-1", "build-1", "true", t0), 0, time.Second)
	h.send(openCommandMsg{cmd})
	h.key("i")
	h.lacks("INTERACTIVE")
	h.contains("cannot type into it")
}

func TestInteractiveEndsWithCommand(t *testing.T) {
	h := newHarness(t, 100, 30, fourAgents()...)
	cmd := running("c-1", "a-1", "build-1", "cat", t0)
	h.events(client.CommandChanged{Command: cmd})
	h.send(openCommandMsg{cmd})
	h.key("i")
	h.contains("INTERACTIVE")
	h.events(client.CommandChanged{Command: exited(cmd, 0, time.Second)})
	h.lacks("INTERACTIVE")
	h.contains("the keyboard is yours again")
}

func TestHelpListsKeys(t *testing.T) {
	h := newHarness(t, 80, 24, fourAgents()...)
	h.key("?")
	h.contains("Keys", "quit", "filter agents", "select agent", "type into the process", "give keyboard back", "ctrl+]",
		"scroll", "history of agent", "Browser dashboard", "http://relay.test/#signin=sbc_code", "until 15:04:05")
	// Titled sections, each key once in each: ↑/k moves in the list and
	// scrolls a pane, and says which.
	h.contains("Anywhere", "Agent list", "Panes", "Command bar", "Typing into a process", "restart session (asks)",
		"next waiting / quick reply")
	if n := strings.Count(h.screen(), "↑/k"); n != 2 {
		t.Errorf("↑/k is in the help %d times, want twice (list, panes):\n%s", n, h.screen())
	}
	h.checkGeometry()
	h.key("esc")
	h.lacks("give keyboard back")
	h.key("q")
}

func TestQuit(t *testing.T) {
	h := newHarness(t, 80, 24, fourAgents()...)
	_, cmd := h.m.Update(keyMsg("q"))
	if cmd == nil {
		t.Fatal("q returned no command")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("q does not quit")
	}
}

func TestConnectionStateAlwaysVisible(t *testing.T) {
	h := newHarness(t, 80, 24, fourAgents()...)
	h.contains("● connected")
	h.events(client.ConnState{State: client.Reconnecting, RetryIn: 3 * time.Second, Err: errors.New("gone")})
	h.contains("◌ gone · reconnecting in 3s")
	h.now = h.now.Add(2 * time.Second)
	h.send(clockMsg{})
	h.contains("◌ gone · reconnecting in 1s")
	h.send(clientClosedMsg{})
	h.contains("✕ offline")
	h.checkGeometry()
}

func TestHistoryOpensPastCommandFromStart(t *testing.T) {
	h := newHarness(t, 120, 30, fourAgents()...)
	past := exited(running("c-old", "a-1", "build-1", "make release", t0.Add(-time.Hour)), 1, 90*time.Second)
	h.b.hist = []wire.Command{past, exited(running("c-older", "a-1", "build-1", "make", t0.Add(-2*time.Hour)), 0, time.Second)}
	h.key("down", "h")
	h.contains("History of build-1", "✗ exit 1", "1m30s", "make release", "✓ exit 0")
	h.key("enter")
	h.lacks("History of build-1")
	eventually(t, "subscribe from 0", func() bool { return slices.Contains(h.b.Calls(), "subscribe c-old 0") })
	h.events(client.Output{CommandID: "c-old", Offset: 0, Data: []byte("building release\r\nerror: boom\r\n")},
		client.OutputEnd{CommandID: "c-old", Offset: 30})
	h.contains("1 build-1 · make release", "✗ exit 1 · 1m30s", "error: boom")
	h.checkGeometry()
}

func TestScrollbackByKeysAndWheel(t *testing.T) {
	h := newHarness(t, 100, 30, fourAgents()...)
	cmd := running("c-1", "a-1", "build-1", "seq 200", t0)
	h.events(client.CommandChanged{Command: cmd})
	h.send(openCommandMsg{cmd})
	var out strings.Builder
	for i := 1; i <= 200; i++ {
		fmt.Fprintf(&out, "line %d\r\n", i)
	}
	h.events(client.Output{CommandID: "c-1", Data: []byte(out.String())})
	h.contains("line 200")
	h.lacks("line 150\n")
	h.key("tab") // focus the panes
	h.key("pgup")
	h.contains("lines back", "G follows")
	h.lacks("line 200")
	h.key("g")
	h.contains("line 1 ")
	h.key("G")
	h.contains("line 200")
	h.lacks("lines back")
	h.send(tea.MouseWheelMsg{X: 60, Y: 10, Button: tea.MouseWheelUp})
	h.contains("3 lines back")
	h.send(tea.MouseWheelMsg{X: 60, Y: 10, Button: tea.MouseWheelDown})
	h.lacks("lines back")
}

func TestPanesSplitAndGrid(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {200, 60}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			h := newHarness(t, size[0], size[1], fourAgents()...)
			h.checkGeometry()
			for i := 1; i <= 5; i++ {
				cmd := running(fmt.Sprintf("c-%d", i), "a-2", "build-2", fmt.Sprintf("job %d", i), t0)
				h.events(client.CommandChanged{Command: cmd})
				h.send(openCommandMsg{cmd})
				h.events(client.Output{CommandID: cmd.ID, Data: []byte(fmt.Sprintf("output of job %d\r\n", i))})
				h.checkGeometry()
			}
			if n := len(h.m.panes.panes); n != maxPanes {
				t.Fatalf("%d panes, want %d", n, maxPanes)
			}
			h.contains("job 5", "output of job 5")
			h.lacks("job 1 ") // the least recently used pane was replaced
			h.key("z")        // zoom
			h.checkGeometry() // the zoomed pane fills the screen
			h.lacks("AGENTS") // the list is hidden
			h.key("z", "x")   // unzoom, close one
			h.checkGeometry()
			h.key("h")
			h.checkGeometry()
			h.key("esc", "?")
			h.checkGeometry()
			h.key("esc")
			h.send(tea.WindowSizeMsg{Width: size[0] + 7, Height: size[1] + 3})
			h.checkGeometry()
		})
	}
}

func TestResumeKeepsPaneAcrossReconnect(t *testing.T) {
	h := newHarness(t, 100, 30, fourAgents()...)
	cmd := running("c-1", "a-1", "build-1", "count", t0)
	h.events(client.CommandChanged{Command: cmd})
	h.send(openCommandMsg{cmd})
	h.events(client.Output{CommandID: "c-1", Data: []byte("before\r\n")})
	emu := h.m.panes.panes[0].t
	h.events(client.ConnState{State: client.Reconnecting, RetryIn: time.Second})
	h.b.state.Commands["c-1"] = cmd
	h.events(client.Resynced{Seq: 9}, client.ConnState{State: client.Connected},
		client.Output{CommandID: "c-1", Offset: 8, Data: []byte("after\r\n")})
	if h.m.panes.panes[0].t != emu {
		t.Fatal("the pane's emulator was replaced on reconnect")
	}
	h.contains("before", "after", "● connected")
	// A replayed duplicate is ignored.
	h.events(client.Output{CommandID: "c-1", Offset: 0, Data: []byte("before\r\n")})
	if got := strings.Count(h.screen(), "before"); got != 1 {
		t.Fatalf("'before' shown %d times", got)
	}
	if n := strings.Count(strings.Join(h.b.Calls(), "\n"), "subscribe c-1"); n != 1 {
		t.Fatalf("subscribed %d times; the client resubscribes by itself", n)
	}
}

func TestRunErrorShown(t *testing.T) {
	h := newHarness(t, 100, 30, fourAgents()...)
	h.b.runErr = &wire.Error{Code: "no_targets", Message: "no agent matches"}
	h.key(":")
	h.typeText("ls")
	h.key("enter")
	h.contains("run: no_targets: no agent matches")
}

func TestCancelAndClosePane(t *testing.T) {
	h := newHarness(t, 100, 30, fourAgents()...)
	cmd := running("c-1", "a-1", "build-1", "sleep 100", t0)
	h.events(client.CommandChanged{Command: cmd})
	h.send(openCommandMsg{cmd})
	h.key("X")
	h.contains("Cancel sleep 100 on build-1?", "y: yes")
	h.key("n") // anything but y keeps it
	h.contains("not cancelled")
	h.key("X", "y")
	eventually(t, "cancel", func() bool { return slices.Contains(h.b.Calls(), "cancel c-1") })
	if n := len(slices.DeleteFunc(h.b.Calls(), func(c string) bool { return c != "cancel c-1" })); n != 1 {
		t.Fatalf("cancelled %d times, want once", n)
	}
	h.key("x")
	h.contains("No command is open")
	if h.m.streams["c-1"] == nil {
		t.Fatal("a running command's stream was dropped with its pane")
	}
}

func TestRestartSessionAsksAndOpensTheNewOne(t *testing.T) {
	a := agent("a-1", "claude-box", wire.AgentBusy, 1, nil)
	a.Session = []string{"claude"}
	h := newHarness(t, 120, 30, a, agent("a-2", "build-2", wire.AgentIdle, 0, nil))
	old := running("s-1", "a-1", "claude-box", "claude", t0)
	old.Session = true
	h.events(client.CommandChanged{Command: old})
	h.send(openCommandMsg{old})
	h.key("1") // the pane has the keyboard
	h.key("X")
	h.contains("Stop the session of claude-box (claude)? It runs again only when restarted (R).")
	h.key("esc")
	h.key("R")
	h.contains("Restart the session of claude-box (claude)? The running one is stopped first.")
	h.key("y")
	eventually(t, "restart", func() bool { return slices.Contains(h.b.Calls(), "restart a-1") })
	ended := old
	ended.State, ended.Reason = wire.StateCanceled, "restarted from a dashboard"
	fresh := running("s-2", "a-1", "claude-box", "claude", t0)
	fresh.Session = true
	h.events(client.CommandChanged{Command: ended}, client.CommandChanged{Command: fresh})
	if p := h.m.panes.focused(); p == nil || p.id != "s-2" {
		t.Fatalf("the new session did not open in a pane")
	}

	h.key("shift+tab") // to the list, where build-2 comes first: it runs no session
	h.key("R")
	h.contains("build-2 runs no session program")
}

// TestNarrowPaneTitleKeepsAgentAndCorner: at 60x15 the pane's title keeps
// the agent's name and the border's corner; the timer goes first.
func TestNarrowPaneTitleKeepsAgentAndCorner(t *testing.T) {
	h := newHarness(t, 60, 15, fourAgents()...)
	cmd := running("c-1", "a-1", "build-server-7", "make test-integration", t0.Add(-time.Hour))
	h.events(client.CommandChanged{Command: cmd})
	h.send(openCommandMsg{cmd})
	h.checkGeometry()
	top := strings.Split(h.screen(), "\n")[0]
	if !strings.Contains(top, "build-server-7") || !strings.HasSuffix(strings.TrimRight(top, " "), "╮") {
		t.Fatalf("narrow pane title lost the agent or the corner: %q", top)
	}
	if !strings.Contains(top, "▶") {
		t.Fatalf("narrow pane title lost the state: %q", top)
	}
	h.send(tea.WindowSizeMsg{Width: 120, Height: 30})
	if top = strings.Split(h.screen(), "\n")[0]; !strings.Contains(top, "▶ running 1h") {
		t.Fatalf("wide pane title lost the timer: %q", top)
	}
}

// TestFifthPaneSaysWhichGoes: a fifth pane takes the place of one whose
// command is over if there is one, and the status line says which went
// and whether it still runs.
func TestFifthPaneSaysWhichGoes(t *testing.T) {
	h := newHarness(t, 200, 50, fourAgents()...)
	open := func(i int) wire.Command {
		cmd := running(fmt.Sprintf("c-%d", i), "a-2", "build-2", fmt.Sprintf("job %d", i), t0)
		h.events(client.CommandChanged{Command: cmd})
		h.send(openCommandMsg{cmd})
		return cmd
	}
	for i := 1; i <= 4; i++ {
		open(i)
	}
	h.events(client.CommandChanged{Command: exited(running("c-3", "a-2", "build-2", "job 3", t0), 0, time.Second)})
	open(5)
	h.contains("pane 3 (build-2 · job 3) made room", "job 1", "job 5")
	h.lacks("job 3 ")
	open(6)
	h.contains("pane 1 (build-2 · job 1) made room; it still runs", "job 6")
}

// TestForgetAgent: F twice on an offline agent asks the relay to forget
// it; a connected agent is not offered; the relay's agent.removed takes it
// off the list.
func TestForgetAgent(t *testing.T) {
	h := newHarness(t, 100, 24, fourAgents()...)
	h.key("F") // ai-box, busy
	h.contains("ai-box is connected")
	h.key("down", "down", "down", "F") // laptop, offline
	h.contains("press F again to forget laptop")
	if calls := h.b.Calls(); slices.Contains(calls, "forget a-3") {
		t.Fatalf("forgot after one press: %v", calls)
	}
	h.key("F")
	h.contains("forgot laptop")
	if calls := h.b.Calls(); !slices.Contains(calls, "forget a-3") {
		t.Fatalf("calls %v, want forget a-3", calls)
	}
	h.events(client.AgentRemoved{AgentID: "a-3"})
	h.contains("AGENTS 3")
	h.lacks("○ laptop")
}

// TestNamesCannotDriveTheTerminal: an agent's name, labels and command
// line show as text; their escape sequences never reach the terminal.
func TestNamesCannotDriveTheTerminal(t *testing.T) {
	evil := agent("a-x", "x\x1b]0;owned\a", wire.AgentIdle, 0, map[string]string{"k": "\x1b]52;c;aGk=\a"})
	h := newHarness(t, 100, 24, evil)
	h.contains(`x\x1b]0;owned\x07`, `k=\x1b]52;c;`)
	if v := h.m.View().Content; strings.Contains(v, "\x1b]0;owned") || strings.Contains(v, "\x1b]52") {
		t.Fatalf("the view carries the agent's escape sequences: %q", v)
	}
}

// TestConnectionNamesTheRelayWhenSeveral: given several relays, the
// status line says which one the dashboard is on, which one failed and
// which it tries next, and a move is announced; the title follows.
func TestConnectionNamesTheRelayWhenSeveral(t *testing.T) {
	h := newHarness(t, 140, 24, fourAgents()...)
	h.m.opts.SeveralRelays = true
	h.events(client.ConnState{State: client.Connected, Relay: "ws://10.0.0.1:8080/ws/dashboard"})
	h.contains("● connected to 10.0.0.1:8080")
	h.events(client.ConnState{State: client.Reconnecting, RetryIn: 2 * time.Second, Err: errors.New("gone"),
		Failed: "ws://10.0.0.1:8080/ws/dashboard", Relay: "wss://10.0.0.2:8443/ws/dashboard"})
	h.contains("◌ 10.0.0.1:8080: gone · trying wss://10.0.0.2:8443 in 2s")
	h.events(client.ConnState{State: client.Connected, Relay: "wss://10.0.0.2:8443/ws/dashboard", From: "ws://10.0.0.1:8080/ws/dashboard"})
	h.contains("● connected to wss://10.0.0.2:8443", "relay 10.0.0.1:8080 lost: moved to wss://10.0.0.2:8443")
	if title := h.m.View().WindowTitle; !strings.Contains(title, "wss://10.0.0.2:8443") {
		t.Errorf("title %q does not name the relay", title)
	}
	h.now = h.now.Add(flashFor + time.Second)
	h.send(clockMsg{})
	h.lacks("moved to")
	h.contains("● connected to wss://10.0.0.2:8443")
	h.checkGeometry()
}

// TestCommandRemoved: the relay's command.removed (retention) drops a
// finished command from the dashboard's state, unless a pane shows it.
func TestCommandRemoved(t *testing.T) {
	h := newHarness(t, 100, 24, fourAgents()...)
	t0 := time.Now().Add(-time.Hour)
	h.events(client.CommandChanged{Command: exited(running("c-old", "a-2", "build-2", "old job", t0), 0, time.Second)},
		client.CommandChanged{Command: exited(running("c-shown", "a-2", "build-2", "shown job", t0), 0, time.Second)})
	h.m.openPane(h.m.cmds["c-shown"])
	h.events(client.CommandRemoved{CommandID: "c-old"}, client.CommandRemoved{CommandID: "c-shown"})
	if _, ok := h.m.cmds["c-old"]; ok {
		t.Errorf("a removed command stayed in the dashboard's state")
	}
	if _, ok := h.m.cmds["c-shown"]; !ok {
		t.Errorf("a removed command shown in a pane left the state under it")
	}
	h.contains("shown job")
}
