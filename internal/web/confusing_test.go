package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"switchboard/internal/client"
	"switchboard/internal/relay"
	"switchboard/internal/wire"
)

// runFromClient runs a shell line on an agent from a Go dashboard client,
// as the TUI does, and waits for it to end.
func (e *env) runFromClient(agent, line string) wire.Command {
	e.t.Helper()
	cl, err := client.Dial(context.Background(), client.Config{Relay: e.relay.URL(), Client: "switchboard-tui/test"})
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for cl.State().Agents == nil || !hasAgent(cl.State(), agent) {
		if ctx.Err() != nil {
			e.t.Fatalf("agent %s never connected", agent)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmds, err := cl.Run(ctx, wire.Targets{Agents: []string{agent}}, wire.CommandSpec{Shell: line, Cols: 100, Rows: 30})
	if err != nil {
		e.t.Fatal(err)
	}
	for !cl.State().Commands[cmds[0].ID].State.Final() {
		if ctx.Err() != nil {
			e.t.Fatalf("%s did not end", line)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cl.State().Commands[cmds[0].ID]
}

func hasAgent(s client.State, name string) bool {
	for _, a := range s.Agents {
		if a.Name == name && a.Status != wire.AgentOffline {
			return true
		}
	}
	return false
}

// TestPastCommandOpensWithItsHeader: a command another dashboard ran,
// opened from the list once it is over, shows its agent, command and
// state in the pane's header at once, whatever its output is doing.
func TestPastCommandOpensWithItsHeader(t *testing.T) {
	e := newEnv(t, relay.Config{})
	e.startAgent("build-1", nil)
	c := e.runFromClient("build-1", "seq 1 200000")
	p := e.openPage("a")
	eval[bool](p, `(window.switchboard.flow.high = 16 << 10, window.switchboard.flow.low = 4 << 10, true)`) // a slow replay
	p.selectAgent("build-1")
	item := fmt.Sprintf(`#commands li.cmd[data-id=%q]`, c.ID)
	p.waitFor("the command in the list", fmt.Sprintf(`document.querySelector(%q)`, item))
	// The header is there as the pane opens, not once its output ends.
	header := eval[string](p, fmt.Sprintf(`(() => {
  document.querySelector(%q).click();
  const p = document.querySelector('.pane.active');
  return p.querySelector('.pane-title').textContent + ' | ' + p.querySelector('.pane-state').textContent;
})()`, item+" button"))
	if header != "build-1 $ seq 1 200000 | ✓ exit 0" {
		t.Fatalf("the pane opened with the header %q", header)
	}
}

// TestGridShowsTheEndOfEachTerminal: commands with long output, opened
// in the grid, show their end at once: the page starts them near it
// rather than replaying megabytes to get there (which showed the middle
// of the output for as long as the replay took).
func TestGridShowsTheEndOfEachTerminal(t *testing.T) {
	e := newEnv(t, relay.Config{})
	e.startAgent("build-1", nil)
	big := e.runFromClient("build-1", "seq 1 400000")
	small := e.runFromClient("build-1", "seq 1 2000")
	p := e.openPage("a")
	eval[bool](p, `(window.switchboard.flow.high = 64 << 10, window.switchboard.flow.low = 16 << 10, true)`)
	for _, c := range []wire.Command{big, small} {
		item := fmt.Sprintf(`#commands li.cmd[data-id=%q] button`, c.ID)
		p.waitFor("the command in the list", fmt.Sprintf(`document.querySelector(%q)`, item))
		p.do(chromedp.Click(chromedp.CSS(item)))
	}
	p.do(chromedp.Click(chromedp.ID("grid")))
	for id, last := range map[string]string{big.ID: "400000", small.ID: "2000"} {
		// What is drawn, not only where xterm's buffer says it is.
		p.waitForWithin(10*time.Second, "terminal "+id+" showing its end", fmt.Sprintf(`(() => {
  const t = window.switchboard.terminals.get(%q).term;
  const rows = [...t.element.querySelectorAll('.xterm-rows > div')].map((r) => r.textContent.trim()).filter(Boolean);
  return t.buffer.active.viewportY === t.buffer.active.baseY && rows[rows.length - 1] === %q;
})()`, id, last))
	}
	if from := eval[int](p, fmt.Sprintf(`window.switchboard.terminals.get(%q).subscribedFrom`, big.ID)); from == 0 {
		t.Errorf("the long output was replayed from its first byte")
	}
	if whole := p.terminalText(small.ID); !strings.HasPrefix(whole, "1\n2\n") {
		t.Errorf("the short output was not shown whole: %q…", whole[:min(len(whole), 20)])
	}
}

// registerAgents registers n agents over raw WebSockets (no commands run
// on them) and keeps them until the test ends.
func (e *env) registerAgents(n int) {
	e.t.Helper()
	for i := range n {
		ws, _, err := websocket.DefaultDialer.Dial(e.relay.URL()+wire.AgentPath, nil)
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { ws.Close() })
		name := fmt.Sprintf("fleet-%02d", i)
		hello := wire.MustEncode(&wire.Hello{Protocol: wire.ProtocolVersion, Agent: &wire.AgentInfo{ID: "a-" + name, Name: name}})
		if err := ws.WriteMessage(websocket.TextMessage, hello); err != nil {
			e.t.Fatal(err)
		}
		// welcome, before the next: the relay takes only so many
		// connections per address that have not finished their hello.
		if _, _, err := ws.ReadMessage(); err != nil {
			e.t.Fatal(err)
		}
		go func() { // read (and drop) what the relay sends, pings included
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
}

// TestAgentListSaysItScrolls: a list longer than its box says how many
// agents are below, until it is scrolled to its end.
func TestAgentListSaysItScrolls(t *testing.T) {
	e := newEnv(t, relay.Config{})
	e.registerAgents(40)
	p := e.openPage("a")
	p.waitFor("40 agents", `document.querySelectorAll('#agents li.agent').length === 40`)
	p.waitFor("the cue", `!document.getElementById('agents-more').hidden &&
  /^\d+ more agents? below/.test(document.getElementById('agents-more').textContent)`)
	eval[bool](p, `(() => { const l = document.getElementById('agents'); l.scrollTop = l.scrollHeight; return true; })()`)
	p.waitFor("the cue gone at the end", `document.getElementById('agents-more').hidden`)
}

// TestCommandListSaysWhatTheSelectionHides: with an agent selected, the
// command list says how many commands of other agents it hides, and
// shows them on request.
func TestCommandListSaysWhatTheSelectionHides(t *testing.T) {
	e := newEnv(t, relay.Config{})
	e.startAgent("build-1", nil)
	e.startAgent("build-2", nil)
	e.runFromClient("build-2", "echo elsewhere")
	p := e.openPage("a")
	p.waitFor("the command in the list", `document.querySelectorAll('#commands li.cmd').length === 1`)
	p.selectAgent("build-1")
	p.waitFor("the hint", `!document.getElementById('cmds-hidden').hidden &&
  document.getElementById('cmds-hidden').textContent.includes('1 command of other agents hidden')`)
	p.do(chromedp.Click(chromedp.CSS("#cmds-hidden button")))
	p.waitFor("every command listed", `document.querySelectorAll('#commands li.cmd').length === 1`)
}
