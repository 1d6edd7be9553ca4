package tui

import (
	"context"

	tea "charm.land/bubbletea/v2"

	"switchboard/internal/wire"
)

// forgetMsg carries the relay's answer to forgetting an agent.
type forgetMsg struct {
	name string
	err  error
}

// forgetAgent forgets the agent under the cursor once the key is pressed
// twice in a row: a forgotten agent leaves every dashboard (relay agent
// forget does the same). The relay refuses a connected agent, and a token
// that is not an admin's.
func (m *Model) forgetAgent() tea.Cmd {
	a, ok := m.list.current()
	if !ok {
		m.setFlash("no agent to forget", true)
		return nil
	}
	if a.Status != wire.AgentOffline {
		m.setFlash(a.Name+" is connected: only an offline agent can be forgotten", true)
		return nil
	}
	if m.forgetArmed != a.ID {
		m.forgetArmed = a.ID
		m.setFlash("press F again to forget "+a.Name+" (it leaves every dashboard; its history stays)", false)
		return nil
	}
	m.forgetArmed = ""
	b, id, name := m.b, a.ID, a.Name
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		_, err := b.ForgetAgent(ctx, id)
		return forgetMsg{name, err}
	}
}

func (m *Model) onForget(msg forgetMsg) {
	if msg.err != nil {
		m.setFlash("forget "+msg.name+": "+msg.err.Error(), true)
		return
	}
	m.setFlash("forgot "+msg.name, false)
}
