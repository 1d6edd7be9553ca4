package tui

import (
	"context"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"switchboard/internal/wire"
)

// run starts a command line on the bar's targets.
func (m *Model) run(line string) tea.Cmd {
	ts := m.list.targets()
	if len(ts) == 0 {
		m.setFlash("no agent to run on: pick one in the list", true)
		return nil
	}
	ids := make([]string, len(ts))
	for i, a := range ts {
		ids[i] = a.ID
	}
	cols, rows := m.newPaneSize(min(len(ts), maxPanes))
	spec := wire.CommandSpec{Shell: line, Cols: cols, Rows: rows}
	b := m.b
	m.setFlash(fmt.Sprintf("starting on %d agent(s)…", len(ts)), false)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		cmds, err := b.Run(ctx, wire.Targets{Agents: ids}, spec)
		return runResultMsg{line, cmds, err}
	}
}

// newPaneSize predicts the content size of a pane opened with n more.
func (m *Model) newPaneSize(n int) (cols, rows int) {
	total := min(len(m.panes.panes)+n, maxPanes)
	probe := &paneSet{w: m.panes.w, h: m.panes.h}
	if m.panes.zoom {
		probe.w = m.w - m.listW
	}
	for range total {
		probe.panes = append(probe.panes, &pane{})
	}
	probe.layout()
	r := probe.rects[total-1]
	return max(r.w-2, 10), max(r.h-2, 3)
}

func (m *Model) onRunResult(r runResultMsg) {
	if r.err != nil {
		m.setFlash("run: "+r.err.Error(), true)
		return
	}
	for _, c := range r.cmds {
		m.mine[c.ID] = true
		if _, ok := m.cmds[c.ID]; !ok {
			m.cmds[c.ID] = c
		}
	}
	m.replaced = nil
	for i, c := range r.cmds {
		if i < maxPanes {
			m.openPane(m.cmds[c.ID])
		}
	}
	msg := fmt.Sprintf("started on %d agent(s): %s", len(r.cmds), r.line)
	if len(r.cmds) > maxPanes {
		msg += fmt.Sprintf("; showing %d, the rest are in history (h)", maxPanes)
	}
	if len(m.replaced) > 0 {
		msg += "; " + strings.Join(m.replaced, "; ")
	}
	m.setFlash(msg, false)
	m.setFocus(focusPanes)
}

// openPane shows a command in a pane (focusing it if it is already shown).
func (m *Model) openPane(c wire.Command) {
	if i := m.panes.find(c.ID); i >= 0 {
		m.panes.setFocus(i)
		return
	}
	if known, ok := m.cmds[c.ID]; ok {
		c = known
	} else {
		m.cmds[c.ID] = c
	}
	id := c.ID
	p := newPane(m.c, c, m.streamFor(c), func(b []byte) { m.out.reply(id, b) })
	live := func(id string) bool { return !m.cmds[id].State.Final() }
	if old, at := m.panes.add(p, live); old != nil {
		m.sayReplaced(old, at)
		m.dropPane(old)
	}
	m.panes.setFocus(m.panes.find(id))
	m.layoutPanes()
}

// closePane closes pane i.
func (m *Model) closePane(i int) {
	if m.interactive && i == m.panes.focus {
		m.leaveInteractive()
	}
	m.dropPane(m.panes.remove(i))
	m.layoutPanes()
	if len(m.panes.panes) == 0 && m.focus == focusPanes {
		m.setFocus(focusList)
	}
}

// dropPane releases a pane that left the set, and its stream unless the
// command is still running (the list watches it) or another pane shows it.
func (m *Model) dropPane(p *pane) {
	p.close()
	if m.panes.find(p.id) >= 0 || m.cmds[p.id].State == wire.StateRunning {
		return
	}
	if st := m.streams[p.id]; st != nil {
		if !st.ended {
			m.out.unsubscribe(p.id)
		}
		delete(m.streams, p.id)
	}
}

func (m *Model) enterInteractive() {
	p := m.panes.focused()
	if p == nil {
		m.setFlash("open a pane first", true)
		return
	}
	if c := m.cmds[p.id]; c.State != wire.StateRunning {
		m.setFlash(fmt.Sprintf("cannot type into it: the command is %s", c.State), true)
		return
	}
	m.interactive = true
	m.setFocus(focusPanes)
	p.answer(true)
	p.scrollToBottom()
	m.fitRemote(p)
}

func (m *Model) leaveInteractive() {
	m.interactive = false
	if p := m.panes.focused(); p != nil {
		p.answer(false)
	}
}

// openHistory opens the picker for the agent in focus and asks the relay.
func (m *Model) openHistory() tea.Cmd {
	var a wire.Agent
	if p := m.panes.focused(); m.focus == focusPanes && p != nil {
		a = m.agents[m.cmds[p.id].AgentID]
		if a.ID == "" {
			a = wire.Agent{AgentInfo: wire.AgentInfo{ID: m.cmds[p.id].AgentID, Name: m.cmds[p.id].AgentName}}
		}
	} else if cur, ok := m.list.current(); ok {
		a = cur
	} else {
		m.setFlash("no agent to show history for", true)
		return nil
	}
	m.picker = newHistoryPicker(m.c, a)
	m.picker.SetSize(m.w, m.h-2)
	b, id := m.b, a.ID
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		cmds, err := b.History(ctx, wire.HistoryQuery{Agent: id, Limit: historyLimit})
		return historyMsg{id, cmds, err}
	}
}

// openRunning opens panes for the current agent's running commands.
func (m *Model) openRunning() {
	a, ok := m.list.current()
	if !ok {
		return
	}
	n := 0
	for _, c := range m.cmds {
		if c.AgentID == a.ID && c.State == wire.StateRunning && n < maxPanes {
			m.openPane(c)
			n++
		}
	}
	if n == 0 {
		m.setFlash(a.Name+" runs nothing right now; h shows its history", false)
		return
	}
	m.setFocus(focusPanes)
}

// sayReplaced tells which pane made room for a new one, and whether its
// command still runs.
func (m *Model) sayReplaced(old *pane, at int) {
	c := m.cmds[old.id]
	note := fmt.Sprintf("pane %d (%s · %s) made room", at+1, c.AgentName, truncate(c.CommandSpec.Line(), 24))
	if !c.State.Final() {
		note += "; it still runs: o or h opens it again"
	}
	m.replaced = append(m.replaced, note)
	m.setFlash(note, false)
}
