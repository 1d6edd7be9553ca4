package tui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"switchboard/internal/client"
	"switchboard/internal/safetext"
	"switchboard/internal/status"
	"switchboard/internal/wire"
)

// agentRows is how many screen lines one agent takes in the list.
const agentRows = 2

// agentList is the left column: every agent with its status, filterable,
// with a cursor and a multi-selection that the command bar targets.
type agentList struct {
	c        *common
	w, h     int
	all      []wire.Agent // sorted by name, then id
	shown    []wire.Agent // all, filtered
	cursor   int          // index into shown
	top      int          // first entry on screen
	selected map[string]bool
	waiting  map[string]int // agent id -> its waiting commands
	filter   textinput.Model
	// filtering: the filter input has the keyboard.
	filtering bool
	focused   bool
}

func newAgentList(c *common) *agentList {
	f := textinput.New()
	f.Prompt = "/"
	f.Placeholder = "name or label=value"
	f.SetVirtualCursor(false)
	return &agentList{c: c, selected: map[string]bool{}, waiting: map[string]int{}, filter: f}
}

// SetSize sets the list's outer size.
func (l *agentList) SetSize(w, h int) {
	l.w, l.h = w, h
	l.filter.SetWidth(max(w-3, 1))
	l.clamp()
}

// setAgents replaces the agents, keeping cursor and selection by id.
func (l *agentList) setAgents(agents map[string]wire.Agent) {
	cur, hadCur := l.current()
	l.all = l.all[:0]
	for _, a := range agents {
		l.all = append(l.all, a)
	}
	slices.SortFunc(l.all, waitingFirst)
	for id := range l.selected {
		if _, ok := agents[id]; !ok {
			delete(l.selected, id)
		}
	}
	l.applyFilter()
	if hadCur {
		for i, a := range l.shown {
			if a.ID == cur.ID {
				l.cursor = i
			}
		}
	}
	l.clamp()
}

func (l *agentList) applyFilter() {
	terms := strings.Fields(strings.ToLower(l.filter.Value()))
	l.shown = l.shown[:0]
	for _, a := range l.all {
		if matchesAll(a, terms) {
			l.shown = append(l.shown, a)
		}
	}
	l.clamp()
}

// matchesAll reports whether every term is in the agent's name, id,
// hostname, one of its key=value labels, its status or its attention
// (/offline, /waiting).
func matchesAll(a wire.Agent, terms []string) bool {
	hay := strings.ToLower(a.Name + " " + a.ID + " " + a.Hostname + " " + formatLabels(a.Labels, ",") + " " +
		string(a.Status) + " " + string(a.Attention) + " " + status.Agent(a, false).Word)
	for _, t := range terms {
		if !strings.Contains(hay, t) {
			return false
		}
	}
	return true
}

func (l *agentList) clamp() {
	l.cursor = min(max(l.cursor, 0), max(len(l.shown)-1, 0))
	visible := max(l.entriesVisible(), 1)
	if l.cursor < l.top {
		l.top = l.cursor
	}
	if l.cursor >= l.top+visible {
		l.top = l.cursor - visible + 1
	}
	l.top = min(max(l.top, 0), max(len(l.shown)-visible, 0))
}

// headerRows is the title line, plus the filter line when there is one.
func (l *agentList) headerRows() int {
	if l.filtering || l.filter.Value() != "" {
		return 2
	}
	return 1
}

func (l *agentList) entriesVisible() int { return (l.h - l.headerRows()) / agentRows }

// waitingFirst orders the list: agents that wait for a person first, the
// one waiting longest on top; then the others by name and id.
func waitingFirst(a, b wire.Agent) int {
	aw, bw := a.Attention == wire.AttentionWaiting, b.Attention == wire.AttentionWaiting
	switch {
	case aw && bw:
		return client.MostUrgent(a, b)
	case aw:
		return -1
	case bw:
		return 1
	}
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// show puts the cursor on agent id; false if the filter hides it.
func (l *agentList) show(id string) bool {
	for i, a := range l.shown {
		if a.ID == id {
			l.cursor = i
			l.clamp()
			return true
		}
	}
	return false
}

// current is the agent under the cursor.
func (l *agentList) current() (wire.Agent, bool) {
	if l.cursor < 0 || l.cursor >= len(l.shown) {
		return wire.Agent{}, false
	}
	return l.shown[l.cursor], true
}

// targets are the selected agents or, with none selected, the current one.
func (l *agentList) targets() []wire.Agent {
	var out []wire.Agent
	for _, a := range l.all {
		if l.selected[a.ID] {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		if a, ok := l.current(); ok {
			out = append(out, a)
		}
	}
	return out
}

// startFilter gives the keyboard to the filter input.
func (l *agentList) startFilter() tea.Cmd {
	l.filtering = true
	return l.filter.Focus()
}

// Update handles a key while the list has the keyboard.
func (l *agentList) Update(msg tea.KeyPressMsg) tea.Cmd {
	k := l.c.keys
	if l.filtering {
		switch {
		case msg.String() == "enter":
			l.filtering = false
			l.filter.Blur()
			return nil
		case key.Matches(msg, k.Back):
			l.filtering = false
			l.filter.Blur()
			l.filter.SetValue("")
			l.applyFilter()
			return nil
		}
		var cmd tea.Cmd
		l.filter, cmd = l.filter.Update(msg)
		l.applyFilter()
		return cmd
	}
	switch {
	case key.Matches(msg, k.Up):
		l.cursor--
	case key.Matches(msg, k.Down):
		l.cursor++
	case msg.String() == "pgup":
		l.cursor -= max(l.entriesVisible(), 1)
	case msg.String() == "pgdown":
		l.cursor += max(l.entriesVisible(), 1)
	case key.Matches(msg, k.Select):
		if a, ok := l.current(); ok {
			if l.selected[a.ID] {
				delete(l.selected, a.ID)
			} else {
				l.selected[a.ID] = true
			}
			l.cursor++
		}
	case key.Matches(msg, k.SelectAll):
		for _, a := range l.shown {
			l.selected[a.ID] = true
		}
	case key.Matches(msg, k.ClearSel):
		if len(l.selected) > 0 {
			clear(l.selected)
		} else if l.filter.Value() != "" {
			l.filter.SetValue("")
			l.applyFilter()
		}
	}
	l.clamp()
	return nil
}

// View renders exactly h lines of exactly w cells.
func (l *agentList) View() []string {
	st := l.c.st
	lines := make([]string, 0, l.h)
	title := fmt.Sprintf(" AGENTS %d", len(l.all))
	if len(l.shown) != len(l.all) {
		title = fmt.Sprintf(" AGENTS %d of %d", len(l.shown), len(l.all))
	}
	if n := len(l.selected); n > 0 {
		title += fmt.Sprintf(" · %d selected", n)
	}
	header := st.header
	if l.focused {
		header = st.headerFocus // a filled bar says where the keys go
	}
	lines = append(lines, header.Render(fit(title, l.w)))
	if l.headerRows() == 2 {
		if l.filtering {
			lines = append(lines, " "+padTo(l.filter.View(), l.w-1))
		} else {
			lines = append(lines, st.faint.Render(fit(" /"+l.filter.Value()+"  (esc clears)", l.w)))
		}
	}
	if len(l.shown) == 0 {
		msg := " no agents connected yet"
		if len(l.all) > 0 {
			msg = " no agent matches the filter"
		}
		lines = append(lines, st.faint.Render(fit(msg, l.w)))
	}
	for i := l.top; i < len(l.shown) && len(lines)+agentRows <= l.h; i++ {
		lines = append(lines, l.entry(l.shown[i], i == l.cursor)...)
	}
	for len(lines) < l.h {
		lines = append(lines, strings.Repeat(" ", l.w))
	}
	return lines[:l.h]
}

// entry renders one agent on agentRows lines.
func (l *agentList) entry(a wire.Agent, isCursor bool) []string {
	st := l.c.st
	look := status.Agent(a, l.waiting[a.ID] > 0)
	sym, word, style := look.Symbol, look.Word, st.tone(look.Tone).Render
	mark := " "
	if l.selected[a.ID] {
		mark = st.selected.Render("✓")
	}
	gutter := " "
	if isCursor {
		gutter = st.borderFocus.Render("▌")
		if !l.focused {
			gutter = st.faint.Render("▌")
		}
	}
	name := safetext.Escape(a.Name)
	if isCursor {
		name = st.bold.Render(name)
	}
	right := style(word)
	nameW := l.w - 5 - len(word) - 1
	line1 := gutter + mark + " " + style(sym) + " " + padTo(truncate(name, nameW), nameW) + " " + right
	run := fmt.Sprintf("%d run", a.Running)
	seen := "now"
	if a.Status == wire.AgentOffline {
		seen = ago(l.c.now(), a.LastSeen)
	}
	tail := run + " · " + seen
	labels := safetext.Escape(formatLabels(a.Labels, " "))
	labW := l.w - 5 - ansiWidth(tail) - 1
	line2 := gutter + "    " + st.faint.Render(padTo(truncate(labels, labW), labW)+" "+tail)
	if note := attentionNote(a, l.c.now()); note != "" {
		style := st.faint
		if a.Attention == wire.AttentionWaiting {
			style = st.waiting
		}
		line2 = gutter + "    " + style.Render(padTo(truncate(note, l.w-5), l.w-5))
	}
	return []string{padTo(line1, l.w), padTo(line2, l.w)}
}
