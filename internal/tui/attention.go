package tui

import (
	"context"
	"fmt"
	"slices"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"switchboard/internal/client"
	"switchboard/internal/wire"
)

// Attention in the dashboard (docs/awareness.md). The relay says which
// commands wait and why; the dashboard puts waiting agents first and
// shows what they ask, jumps to the next one (n), answers one without
// opening it (r), and rings the user's own terminal when an agent starts
// waiting: a bell, which tmux and terminals flag, and an OSC 9
// notification, which terminal emulators show on the desktop.

// notifyEvery bounds how often the dashboard rings the user's terminal.
const notifyEvery = time.Second

// replyPrompt is the quick-reply line, in place of the command bar.
type replyPrompt struct {
	cmd   wire.Command
	input textinput.Model
}

// noteAgent records an agent's change for the user's terminal: starting
// to wait rings it, unless the user is typing into that very command.
func (m *Model) noteAgent(prev, cur wire.Agent) {
	if m.opts.NoNotify || cur.Attention != wire.AttentionWaiting || prev.Attention == wire.AttentionWaiting {
		return
	}
	if p := m.panes.focused(); m.interactive && p != nil && p.id == cur.AttentionCommand {
		return
	}
	m.notes = append(m.notes, fmt.Sprintf("%s is waiting: %s", cur.Name, cur.AttentionReason))
}

// takeNotification turns the recorded changes into one bell and OSC 9
// for the user's terminal, at most every notifyEvery.
func (m *Model) takeNotification() tea.Cmd {
	if len(m.notes) == 0 || m.c.now().Sub(m.lastNotify) < notifyEvery {
		return nil
	}
	text := m.notes[len(m.notes)-1]
	if n := len(m.notes); n > 1 {
		text = fmt.Sprintf("%d agents are waiting; %s", n, text)
	}
	m.notes, m.lastNotify = nil, m.c.now()
	text = wire.CleanText("switchboard: "+text, wire.MaxAttentionReason)
	return tea.Raw("\x1b]9;" + text + "\x1b\\\a")
}

// waitingAgents are the agents that wait, the one waiting longest first.
func (m *Model) waitingAgents() []wire.Agent {
	var out []wire.Agent
	for _, a := range m.agents {
		if a.Attention == wire.AttentionWaiting {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, client.MostUrgent)
	return out
}

// nextWaiting moves to the waiting agent after the one in focus (the one
// waiting longest first) and opens the command that waits in a pane.
func (m *Model) nextWaiting() {
	waiting := m.waitingAgents()
	if len(waiting) == 0 {
		m.setFlash("no agent is waiting", false)
		return
	}
	next := waiting[0]
	if cur, ok := m.focusedAgent(); ok {
		if i := slices.IndexFunc(waiting, func(a wire.Agent) bool { return a.ID == cur.ID }); i >= 0 {
			next = waiting[(i+1)%len(waiting)]
		}
	}
	if !m.list.show(next.ID) {
		m.setFlash(next.Name+" waits, but the filter hides it (esc clears)", true)
	}
	if c, ok := m.cmds[next.AttentionCommand]; ok {
		m.openPane(c)
		m.setFocus(focusPanes)
	}
	m.setFlash(fmt.Sprintf("%s waits: %s — r answers", next.Name, next.AttentionReason), false)
}

// startReply opens the quick-reply line for the waiting command in focus:
// the focused pane's, or that of the agent under the list's cursor.
func (m *Model) startReply() tea.Cmd {
	var c wire.Command
	if p := m.panes.focused(); m.focus == focusPanes && p != nil {
		c = m.cmds[p.id]
	} else if a, ok := m.list.current(); ok {
		c = m.cmds[a.AttentionCommand]
	}
	if c.ID == "" || c.State != wire.StateRunning || c.Attention != wire.AttentionWaiting {
		m.setFlash("nothing waits here: a quick reply answers a waiting command (n finds one)", false)
		return nil
	}
	in := textinput.New()
	in.Prompt = "› "
	in.Placeholder = "y, n, a number or a line, then enter; enter alone sends enter"
	in.CharLimit = wire.MaxReplyText - 1
	in.SetWidth(max(m.w/2, 20))
	in.SetVirtualCursor(false)
	m.reply = &replyPrompt{cmd: c, input: in}
	return m.reply.input.Focus()
}

// replyKey takes a key while the quick-reply line is open.
func (m *Model) replyKey(msg tea.KeyPressMsg) tea.Cmd {
	switch msg.String() {
	case "esc", "ctrl+c":
		m.reply = nil
		m.setFlash("no reply sent", false)
		return nil
	case "enter":
		r := m.reply
		m.reply = nil
		q := wire.QuickReply{CommandID: r.cmd.ID, Text: r.input.Value() + "\r"}
		m.out.push("quick reply", func(b Backend) error {
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			defer cancel()
			_, err := b.QuickReply(ctx, q)
			return err
		})
		m.setFlash(fmt.Sprintf("answered %s: %q", r.cmd.AgentName, r.input.Value()), false)
		return nil
	}
	var cmd tea.Cmd
	m.reply.input, cmd = m.reply.input.Update(msg)
	return cmd
}

// replyLine is the quick-reply prompt, in place of the command bar.
func (m *Model) replyLine() string {
	r := m.reply
	q := truncate(fmt.Sprintf(" ↩ %s asks %q ", r.cmd.AgentName, r.cmd.AttentionReason), max(m.w/2, 10))
	return m.c.st.warnBar.Render(q) + " " + padTo(r.input.View(), max(m.w-ansiWidth(q)-1, 0))
}

// attentionNote is what an agent's second line says about its attention:
// the question of a waiting one, how long a quiet one has been silent.
func attentionNote(a wire.Agent, now time.Time) string {
	switch a.Attention {
	case wire.AttentionWaiting:
		return "◆ " + a.AttentionReason
	case wire.AttentionQuiet:
		if !a.AttentionSince.IsZero() {
			return "quiet " + now.Sub(a.AttentionSince).Round(time.Second).String()
		}
	}
	return ""
}

// waitingPrefix puts the number of waiting agents in front of the
// terminal's title, where a tab bar shows it.
func waitingPrefix(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("(%d waiting) ", n)
}

// paneTitle is what a pane's border names: the window title the program
// set, else its command line.
func paneTitle(c wire.Command) string {
	if c.Title != "" {
		return c.Title
	}
	return c.CommandSpec.Line()
}
