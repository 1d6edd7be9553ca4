package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"switchboard/internal/safetext"
	"switchboard/internal/status"
	"switchboard/internal/wire"
)

// historyLimit is how many past commands the picker asks for.
const historyLimit = 200

// Messages of the history picker.
type (
	// historyMsg carries the relay's answer to a history query.
	historyMsg struct {
		agentID string
		cmds    []wire.Command
		err     error
	}
	// openCommandMsg: open this command in a pane.
	openCommandMsg struct{ cmd wire.Command }
	// closePickerMsg: the picker was dismissed.
	closePickerMsg struct{}
	// openSearchMsg: leave the picker for the search over all output.
	openSearchMsg struct{}
)

// historyPicker lists an agent's commands, newest first, and opens the
// chosen one in a pane.
type historyPicker struct {
	c       *common
	agentID string
	agent   string
	cmds    []wire.Command
	loading bool
	err     error
	cursor  int
	top     int
	w, h    int
}

func newHistoryPicker(c *common, a wire.Agent) *historyPicker {
	return &historyPicker{c: c, agentID: a.ID, agent: safetext.Escape(a.Name), loading: true}
}

// SetSize sets the size of the area the picker floats over.
func (h *historyPicker) SetSize(w, ht int) {
	h.w = min(max(w-4, 20), 110)
	h.h = min(max(ht-2, 5), 24)
	h.clamp()
}

func (h *historyPicker) rowsVisible() int { return max(h.h-4, 1) }

func (h *historyPicker) clamp() {
	h.cursor = min(max(h.cursor, 0), max(len(h.cmds)-1, 0))
	if h.cursor < h.top {
		h.top = h.cursor
	}
	if n := h.rowsVisible(); h.cursor >= h.top+n {
		h.top = h.cursor - n + 1
	}
}

// loaded takes the relay's answer.
func (h *historyPicker) loaded(m historyMsg) {
	h.loading, h.cmds, h.err = false, m.cmds, m.err
	h.clamp()
}

// Update handles a key while the picker is open.
func (h *historyPicker) Update(msg tea.KeyPressMsg) tea.Cmd {
	k := h.c.keys
	switch {
	case key.Matches(msg, k.Back), key.Matches(msg, k.History), msg.String() == "q":
		return func() tea.Msg { return closePickerMsg{} }
	case key.Matches(msg, k.Open):
		if h.cursor < len(h.cmds) {
			c := h.cmds[h.cursor]
			return func() tea.Msg { return openCommandMsg{c} }
		}
	case msg.String() == "p":
		if h.cursor < len(h.cmds) {
			c := h.cmds[h.cursor]
			return func() tea.Msg { return openReplayMsg{c} }
		}
	case msg.String() == "/", key.Matches(msg, k.Search):
		return func() tea.Msg { return openSearchMsg{} }
	case key.Matches(msg, k.Up):
		h.cursor--
	case key.Matches(msg, k.Down):
		h.cursor++
	case msg.String() == "pgup":
		h.cursor -= h.rowsVisible()
	case msg.String() == "pgdown":
		h.cursor += h.rowsVisible()
	case msg.String() == "home", msg.String() == "g":
		h.cursor = 0
	case msg.String() == "end", msg.String() == "G":
		h.cursor = len(h.cmds) - 1
	}
	h.clamp()
	return nil
}

// View renders the picker as a bordered box h.w wide.
func (h *historyPicker) View() []string {
	st := h.c.st
	inner := h.w - 2
	body := make([]string, 0, h.h-2)
	body = append(body, st.faint.Render(fit(fmt.Sprintf(" %-13s %-8s %-8s %s", "STATE", "STARTED", "TOOK", "COMMAND"), inner)))
	switch {
	case h.loading:
		body = append(body, fit(" loading…", inner))
	case h.err != nil:
		body = append(body, st.bad.Render(fit(" "+h.err.Error(), inner)))
	case len(h.cmds) == 0:
		body = append(body, st.faint.Render(fit(" no commands yet", inner)))
	}
	for i := h.top; i < len(h.cmds) && len(body) < h.h-3; i++ {
		body = append(body, h.row(h.cmds[i], i == h.cursor, inner))
	}
	return framedBox(st, fmt.Sprintf(" History of %s ", h.agent), h.w, h.h, body,
		" enter opens in a pane · p replays it as it happened · / searches all output · esc closes")
}

// framedBox draws body in a focused border w wide and h high, title in its
// top edge, footer (faint) on its last line, blank lines between.
func framedBox(st styles, title string, w, h int, body []string, footer string) []string {
	inner := w - 2
	title = truncate(title, inner-2)
	top := st.borderFocus.Render("╭─") + st.header.Render(title) +
		st.borderFocus.Render(strings.Repeat("─", max(inner-1-ansiWidth(title), 0))+"╮")
	side := st.borderFocus.Render("│")
	for len(body) < h-3 {
		body = append(body, strings.Repeat(" ", inner))
	}
	body = append(body, st.faint.Render(fit(footer, inner)))
	out := []string{top}
	for _, b := range body {
		out = append(out, side+b+side)
	}
	return append(out, st.borderFocus.Render("╰"+strings.Repeat("─", inner)+"╯"))
}

func (h *historyPicker) row(c wire.Command, isCursor bool, w int) string {
	st := h.c.st
	state := status.Command(c, false).String()
	started := "-"
	if t := c.StartedAt; !t.IsZero() {
		started = t.Local().Format("15:04:05")
		if h.c.now().Sub(t) > 20*time.Hour {
			started = t.Local().Format("Jan 02")
		}
	}
	took := "-"
	switch {
	case c.State == wire.StateRunning:
		took = short(h.c.now().Sub(c.StartedAt))
	case c.DurationMS > 0:
		took = short(time.Duration(c.DurationMS) * time.Millisecond)
	}
	line := fmt.Sprintf(" %-13s %-8s %-8s %s", state, started, took, safetext.Escape(c.CommandSpec.Line()))
	if isCursor {
		return st.cursorRow.Render(fit(line, w))
	}
	return fit(line, w)
}
