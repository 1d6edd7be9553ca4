package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// wheelLines is how far one mouse wheel step scrolls a pane.
const wheelLines = 3

// onKey routes a key press: to the remote process in interactive mode,
// else to global bindings, then to the component that has the keyboard.
func (m *Model) onKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.c.keys
	if m.interactive {
		return m.interactiveKey(msg)
	}
	if m.confirm != nil {
		m.answerConfirm(msg.String())
		return nil
	}
	if m.reply != nil {
		return m.replyKey(msg)
	}
	if msg.String() == "ctrl+c" {
		return tea.Quit
	}
	switch {
	case m.showHelp:
		if key.Matches(msg, k.Help, k.Back, k.Quit) {
			m.showHelp = false
		}
		return nil
	case m.replay != nil:
		return m.replay.Update(msg)
	case m.picker != nil:
		return m.picker.Update(msg)
	case m.search != nil:
		return m.search.Update(msg)
	case m.focus == focusBar:
		if key.Matches(msg, k.NextFocus, k.PrevFocus) {
			return m.cycleFocus(msg)
		}
		cmd := m.bar.Update(msg)
		return cmd
	case m.list.filtering:
		cmd := m.list.Update(msg)
		m.updateTarget()
		return cmd
	}
	if m.findKey(msg) {
		return nil
	}
	if cmd, ok := m.paneReplayKey(msg); ok {
		return cmd
	}
	if cmd, ok := m.globalKey(msg); ok {
		return cmd
	}
	switch m.focus {
	case focusList:
		return m.listKey(msg)
	case focusPanes:
		m.paneKey(msg)
	}
	return nil
}

// globalKey handles the bindings that work in the list and the panes.
func (m *Model) globalKey(msg tea.KeyPressMsg) (tea.Cmd, bool) {
	k := m.c.keys
	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit, true
	case key.Matches(msg, k.Help):
		m.showHelp, m.signin = true, signInMsg{}
		return m.askSignIn(), true
	case key.Matches(msg, k.NextFocus, k.PrevFocus):
		return m.cycleFocus(msg), true
	case key.Matches(msg, k.Command):
		return m.setFocus(focusBar), true
	case key.Matches(msg, k.Filter):
		m.setFocus(focusList)
		if m.panes.zoom {
			m.panes.zoom = false
			m.layoutPanes()
		}
		return m.list.startFilter(), true
	case key.Matches(msg, k.History):
		return m.openHistory(), true
	case key.Matches(msg, k.Search):
		m.openSearch()
		return nil, true
	case key.Matches(msg, k.Interactive):
		m.enterInteractive()
	case key.Matches(msg, k.FocusPane):
		i := int(msg.Code - '1')
		if i < len(m.panes.panes) {
			m.panes.setFocus(i)
			m.setFocus(focusPanes)
		}
	case key.Matches(msg, k.NextPane), key.Matches(msg, k.PrevPane):
		if n := len(m.panes.panes); n > 0 {
			d := 1
			if key.Matches(msg, k.PrevPane) {
				d = n - 1
			}
			m.panes.setFocus((m.panes.focus + d) % n)
			m.setFocus(focusPanes)
		}
	case key.Matches(msg, k.Zoom):
		if len(m.panes.panes) > 0 {
			m.panes.zoom = !m.panes.zoom
			m.layoutPanes()
			m.setFocus(focusPanes)
		}
	case key.Matches(msg, k.ClosePane):
		if len(m.panes.panes) > 0 {
			m.closePane(m.panes.focus)
		}
	case key.Matches(msg, k.CancelCmd):
		m.askCancel()
	case key.Matches(msg, k.RestartSession):
		m.askRestart()
	case key.Matches(msg, k.NextWaiting):
		m.nextWaiting()
	case key.Matches(msg, k.QuickReply):
		return m.startReply(), true
	default:
		return nil, false
	}
	return nil, true
}

// cycleFocus moves between the list, the panes and the command bar.
func (m *Model) cycleFocus(msg tea.KeyPressMsg) tea.Cmd {
	order := []focusArea{focusList, focusPanes, focusBar}
	if len(m.panes.panes) == 0 {
		order = []focusArea{focusList, focusBar}
	}
	i := 0
	for j, f := range order {
		if f == m.focus {
			i = j
		}
	}
	d := 1
	if key.Matches(msg, m.c.keys.PrevFocus) {
		d = len(order) - 1
	}
	return m.setFocus(order[(i+d)%len(order)])
}

func (m *Model) listKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.c.keys
	switch {
	case key.Matches(msg, k.Run):
		return m.setFocus(focusBar)
	case key.Matches(msg, k.OpenRunning):
		m.openRunning()
		return nil
	case key.Matches(msg, k.Forget):
		return m.forgetAgent()
	}
	m.forgetArmed = ""
	cmd := m.list.Update(msg)
	m.updateTarget()
	return cmd
}

func (m *Model) paneKey(msg tea.KeyPressMsg) {
	k := m.c.keys
	p := m.panes.focused()
	if p == nil {
		return
	}
	_, h := p.content()
	switch {
	case key.Matches(msg, k.ScrollUp):
		p.scrollBy(1)
	case key.Matches(msg, k.ScrollDown):
		p.scrollBy(-1)
	case key.Matches(msg, k.PageUp):
		p.scrollBy(h - 1)
	case key.Matches(msg, k.PageDown):
		p.scrollBy(-(h - 1))
	case key.Matches(msg, k.Top):
		p.scrollToTop()
	case key.Matches(msg, k.Bottom):
		p.scrollToBottom()
	case key.Matches(msg, k.Find):
		p.find = newPaneFind(p)
	case key.Matches(msg, k.Run):
		m.setFocus(focusBar)
	case key.Matches(msg, k.Back):
		m.setFocus(focusList)
	}
}

// interactiveKey sends a key to the focused pane's process; the release
// key gives the keyboard back.
func (m *Model) interactiveKey(msg tea.KeyPressMsg) tea.Cmd {
	if key.Matches(msg, m.c.keys.Release) {
		m.leaveInteractive()
		return nil
	}
	p := m.panes.focused()
	if p == nil {
		m.leaveInteractive()
		return nil
	}
	if b := encodeKey(msg.Key(), p.t.modes); len(b) > 0 {
		m.sendInput(p, b)
	}
	return nil
}

func (m *Model) sendInput(p *pane, b []byte) {
	m.out.input(p.id, b)
	if p.scroll != 0 {
		p.scrollToBottom()
	}
}

func (m *Model) onPaste(msg tea.PasteMsg) tea.Cmd {
	switch {
	case m.interactive:
		if p := m.panes.focused(); p != nil {
			m.sendInput(p, encodePaste(msg.Content, p.t.modes))
		}
	case m.focus == focusBar:
		var cmd tea.Cmd
		m.bar.input, cmd = m.bar.input.Update(msg)
		return cmd
	case m.list.filtering:
		var cmd tea.Cmd
		m.list.filter, cmd = m.list.filter.Update(msg)
		m.list.applyFilter()
		return cmd
	}
	return nil
}

// paneAt maps a screen position to a pane index, or -1.
func (m *Model) paneAt(x, y int) int {
	if y >= m.h-2 {
		return -1
	}
	if !m.panes.zoom {
		x -= m.listW
	}
	return m.panes.at(x, y)
}

func (m *Model) onWheel(msg tea.MouseWheelMsg) {
	mouse := msg.Mouse()
	i := m.paneAt(mouse.X, mouse.Y)
	if i < 0 {
		if mouse.X < m.listW && !m.panes.zoom && mouse.Y < m.h-2 {
			if mouse.Button == tea.MouseWheelUp {
				m.list.cursor--
			} else if mouse.Button == tea.MouseWheelDown {
				m.list.cursor++
			}
			m.list.clamp()
			m.updateTarget()
		}
		return
	}
	p := m.panes.panes[i]
	switch mouse.Button {
	case tea.MouseWheelUp:
		p.scrollBy(wheelLines)
	case tea.MouseWheelDown:
		p.scrollBy(-wheelLines)
	}
}

func (m *Model) onClick(msg tea.MouseClickMsg) {
	if m.interactive || m.picker != nil || m.search != nil || m.showHelp {
		return
	}
	mouse := msg.Mouse()
	if i := m.paneAt(mouse.X, mouse.Y); i >= 0 {
		m.panes.setFocus(i)
		m.setFocus(focusPanes)
		return
	}
	if mouse.Y == m.h-2 {
		m.setFocus(focusBar)
		return
	}
	if mouse.X < m.listW && mouse.Y < m.h-2 && !m.panes.zoom {
		row := (mouse.Y - m.list.headerRows()) / agentRows
		if row >= 0 && m.list.top+row < len(m.list.shown) {
			m.list.cursor = m.list.top + row
			m.list.clamp()
			m.updateTarget()
		}
		m.setFocus(focusList)
	}
}

// openSearch shows the search over all stored output.
func (m *Model) openSearch() {
	m.search = newSearchView(m.c, m.b)
	m.search.SetSize(m.w, m.h-2)
}
