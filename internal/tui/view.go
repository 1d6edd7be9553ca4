package tui

import (
	"fmt"
	"math"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"switchboard/internal/client"
	"switchboard/internal/safetext"
	"switchboard/internal/wire"
)

// View draws the whole screen. The text is rebuilt only after a message
// that changed something; output alone changes nothing until its frame.
func (m *Model) View() tea.View {
	if m.dirty || m.cache == "" {
		m.cache = m.render()
		m.dirty = false
	}
	v := tea.NewView(m.cache)
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = waitingPrefix(len(m.waitingAgents())) + strings.TrimSuffix("switchboard · "+m.titleRelay(), " · ")
	v.Cursor = m.cursor()
	return v
}

func (m *Model) render() string {
	mainH := m.h - 2
	var main []string
	if len(m.panes.panes) == 0 {
		main = m.emptyPanes(m.panes.w, mainH)
	} else {
		main = m.panes.View(m.drawPane)
	}
	lines := main
	if !m.panes.zoom {
		list := m.list.View()
		lines = make([]string, mainH)
		for i := range mainH {
			lines[i] = list[i] + main[i]
		}
	}
	if m.replay != nil {
		lines = m.replay.View()
	}
	if m.search != nil {
		lines = overlay(lines, m.w, m.search.View())
	}
	if m.picker != nil {
		lines = overlay(lines, m.w, m.picker.View())
	}
	if m.showHelp {
		lines = overlay(lines, m.w, m.helpBox())
	}
	lines = append(lines, m.barLine(), m.statusLine())
	return strings.Join(lines, "\n")
}

func (m *Model) drawPane(i int, p *pane) []string {
	focused := i == m.panes.focus
	return p.View(paneView{
		num:         i + 1,
		cmd:         m.cmds[p.id],
		focused:     focused && m.focus == focusPanes,
		interactive: focused && m.interactive,
		waiting:     m.isWaiting(p.id),
		now:         m.c.now(),
	})
}

// emptyPanes is the pane area before any pane is open: how to get one.
func (m *Model) emptyPanes(w, h int) []string {
	st := m.c.st
	k := func(s string) string { return st.key.Render(s) }
	tips := []string{
		st.bold.Render("No command is open."),
		"",
		"pick an agent with " + k("↑/↓") + ", press " + k("enter") + " and type a command",
		k("space") + " selects several agents: one command runs on all",
		k("o") + " opens what an agent runs now, " + k("h") + " its history",
		k("?") + " shows every key",
	}
	out := make([]string, h)
	top := max((h-len(tips))/2, 0)
	for i := range out {
		line := ""
		if j := i - top; j >= 0 && j < len(tips) {
			line = "   " + tips[j]
		}
		out[i] = padTo(line, w)
	}
	return out
}

// barLine is the command bar, a question, or the interactive-mode banner.
func (m *Model) barLine() string {
	if m.confirm != nil {
		return m.confirmLine()
	}
	if m.reply != nil {
		return m.replyLine()
	}
	if m.interactive {
		p := m.panes.focused()
		c := m.cmds[p.id]
		text := fmt.Sprintf(" ⌨  INTERACTIVE — every key goes to %s: %s — press ctrl+] to give the keyboard back ",
			safetext.Escape(c.AgentName), truncate(safetext.Escape(c.CommandSpec.Line()), 30))
		return m.c.st.interactiveBadge.Render(fit(text, m.w))
	}
	if p := m.panes.focused(); p != nil && p.find != nil && m.focus == focusPanes {
		return p.find.line(m.panes.focus+1, m.w, m.c.st)
	}
	return m.bar.View()
}

// statusLine shows the connection, counts, the latest notice and help.
func (m *Model) statusLine() string {
	st := m.c.st
	left := m.connBadge()
	right := st.faint.Render(helpHint(m.c.keys))
	if m.interactive {
		left = st.interactiveBadge.Render(" ⌨ INTERACTIVE ") + left
		right = st.interactiveBadge.Render(" ctrl+] releases ")
	}
	running, waiting := 0, 0
	for id, c := range m.cmds {
		if c.State == wire.StateRunning {
			running++
			if m.isWaiting(id) {
				waiting++
			}
		}
	}
	counts := fmt.Sprintf(" %d agents · %d running", len(m.agents), running)
	if waiting > 0 {
		counts += " · " + st.waiting.Render(fmt.Sprintf("◆ %d waiting", waiting))
	}
	msg := ""
	if m.flash != "" && m.c.now().Before(m.flashUntil) {
		style := st.faint
		if m.flashBad {
			style = st.bad
		}
		msg = "  " + style.Render(m.flash)
	}
	room := m.w - ansiWidth(left+counts) - ansiWidth(right) - 1
	if room < 4 {
		msg = ""
		room = m.w - ansiWidth(left+counts) - 1
		if room < ansiWidth(right) {
			right = ""
		}
	}
	mid := padTo(truncate(msg, room), max(room, 0))
	return padTo(left+counts+mid+" "+right, m.w)
}

func helpHint(k keyMap) string {
	parts := []string{}
	for _, b := range []key.Binding{k.Help, k.Quit} {
		parts = append(parts, b.Help().Key+" "+b.Help().Desc)
	}
	return strings.Join(parts, " · ")
}

// connBadge says whether the dashboard is connected, and if not, when it
// tries again. It is always on screen.
func (m *Model) connBadge() string {
	st := m.c.st
	switch m.conn.State {
	case client.Connected:
		if m.opts.SeveralRelays && m.relay != "" {
			return st.ok.Render(" ● connected to " + safetext.Escape(m.relay))
		}
		return st.ok.Render(" ● connected")
	case client.Reconnecting:
		why := ""
		if m.conn.Err != nil { // where, and why: "reconnecting in 1s" alone left people guessing
			why = " " + client.Reason(m.conn.Err) + " ·"
			switch {
			case m.opts.SeveralRelays && m.conn.Failed != "":
				why = " " + safetext.Escape(relayAddr(m.conn.Failed)) + ":" + why
			case m.opts.Relay != "":
				why = " " + strings.TrimSuffix(m.opts.Relay, "/") + ":" + why
			}
		}
		next := "reconnecting"
		if m.opts.SeveralRelays && m.conn.Relay != "" {
			next = "trying " + safetext.Escape(relayAddr(m.conn.Relay))
		}
		secs := int(math.Ceil(m.retryAt.Sub(m.c.now()).Seconds()))
		if secs <= 0 {
			return st.warn.Render(" ◌" + why + " " + next + "…")
		}
		return st.warn.Render(fmt.Sprintf(" ◌%s %s in %ds", why, next, secs))
	default:
		return st.bad.Render(" ✕ offline")
	}
}

// cursor places the terminal's cursor: in the input that has the keyboard,
// or on the remote program's cursor in interactive mode.
func (m *Model) cursor() *tea.Cursor {
	switch {
	case m.interactive:
		p := m.panes.focused()
		c := p.cursor()
		if c == nil {
			return nil
		}
		r := m.panes.rects[m.panes.focus]
		c.X += r.x
		c.Y += r.y
		if !m.panes.zoom {
			c.X += m.listW
		}
		return c
	case m.showHelp || m.picker != nil || m.search != nil || m.confirm != nil || m.replay != nil:
		return nil
	case m.focus == focusBar:
		c := m.bar.cursor()
		if c != nil {
			c.Y = m.h - 2
		}
		return c
	case m.list.filtering:
		c := m.list.filter.Cursor()
		if c != nil {
			c.X++
			c.Y = 1
		}
		return c
	}
	return nil
}

// titleRelay is the relay named in the terminal's title: the one the
// dashboard is on, when it was given several.
func (m *Model) titleRelay() string {
	if m.opts.SeveralRelays && m.relay != "" {
		return safetext.Escape(m.relay)
	}
	return m.opts.Relay
}
