package tui

import (
	"context"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"switchboard/internal/client"
	"switchboard/internal/wire"
)

// openReplay opens the replay view on a finished command: it follows the
// command's output from the start and asks for its timing.
func (m *Model) openReplay(c wire.Command) tea.Cmd {
	switch {
	case !c.State.Final():
		m.setFlash("a command is replayed once it has ended: enter opens it in a pane", true)
		return nil
	case c.OutputBytes > maxReplayBytes:
		m.setFlash("too much output to replay here ("+byteSize(c.OutputBytes)+"): tui export writes it", true)
		return nil
	}
	m.closeReplay()
	m.picker = nil
	m.replay = newReplayView(m.c, c)
	m.replay.SetSize(m.w, m.h-2)
	if c.OutputBytes == 0 {
		m.replay.ended()
	} else {
		m.out.subscribe(c.ID, 0)
	}
	b, id := m.b, c.ID
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		events, err := b.Timing(ctx, id)
		return replayTimingMsg{id, events, err}
	}
}

// closeReplay closes the replay view, and the subscription it made
// unless a pane or the list follows the command too.
func (m *Model) closeReplay() {
	if m.replay == nil {
		return
	}
	if id := m.replay.cmd.ID; m.streams[id] == nil && m.replay.cmd.OutputBytes > 0 {
		m.out.unsubscribe(id)
	}
	m.replay.close()
	m.replay = nil
}

// replayMsg handles the replay view's messages, and reports whether msg
// was one.
func (m *Model) replayMsg(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case openReplayMsg:
		return m.openReplay(msg.cmd), true
	case closeReplayMsg:
		m.closeReplay()
	case replayTimingMsg:
		if m.replay != nil && m.replay.cmd.ID == msg.id {
			m.replay.timing(msg)
			return m.startReplay(), true
		}
	case replayTickMsg:
		if m.replay != nil {
			return m.replay.tick(msg), true
		}
	default:
		return nil, false
	}
	return nil, true
}

// replayEvent passes the replayed command's output to the view, and
// starts it once everything is here.
func (m *Model) replayEvent(ev any) {
	if m.replay == nil {
		return
	}
	switch ev := ev.(type) {
	case client.Output:
		if ev.CommandID == m.replay.cmd.ID {
			m.replay.output(ev.Offset, ev.Data)
		}
	case client.OutputEnd:
		if ev.CommandID == m.replay.cmd.ID {
			m.replay.ended()
		}
	}
}

// startReplay starts the replay view once its output and timing are in.
func (m *Model) startReplay() tea.Cmd {
	if m.replay == nil || m.replay.ready() {
		return nil
	}
	cmd := m.replay.start()
	if m.replay.ready() {
		m.dirty = true
	}
	return cmd
}

// paneReplayKey opens the focused pane's command as a replay (p).
func (m *Model) paneReplayKey(msg tea.KeyPressMsg) (tea.Cmd, bool) {
	p := m.panes.focused()
	if p == nil || m.focus != focusPanes || !key.Matches(msg, m.c.keys.Replay) {
		return nil, false
	}
	return m.openReplay(m.cmds[p.id]), true
}
