package tui

import (
	"fmt"
	"maps"
	"strings"

	"switchboard/internal/client"
	"switchboard/internal/wire"
)

// onEvent applies one client event.
func (m *Model) onEvent(ev any) {
	m.replayEvent(ev)
	switch ev := ev.(type) {
	case client.Output:
		if st := m.streams[ev.CommandID]; st != nil {
			st.add(ev.Offset, ev.Data, m.c.now())
		}
		return // no visible change until the next frame
	case client.OutputEnd:
		if st := m.streams[ev.CommandID]; st != nil {
			st.ended = true
			if m.panes.find(ev.CommandID) < 0 {
				delete(m.streams, ev.CommandID)
			}
		}
	case client.Resynced:
		m.applyState(m.b.State())
	case client.AgentChanged:
		m.noteAgent(m.agents[ev.Agent.ID], ev.Agent)
		m.agents[ev.Agent.ID] = ev.Agent
		m.list.setAgents(m.agents)
		m.updateTarget()
	case client.AgentRemoved:
		delete(m.agents, ev.AgentID)
		m.list.setAgents(m.agents)
		m.updateTarget()
	case client.CommandChanged:
		m.onCommand(ev.Command)
	case client.CommandRemoved:
		// Retention removed it from history; a pane showing it keeps it
		// (what it shows is all there was).
		if m.panes.find(ev.CommandID) < 0 {
			delete(m.cmds, ev.CommandID)
		}
	case client.ConnState:
		m.onConnState(ev)
	case client.ServerError:
		m.setFlash("relay: "+ev.Message, true)
	}
	m.dirty = true
}

// applyState takes a fresh snapshot, after each (re)connect.
func (m *Model) applyState(s client.State) {
	if len(m.agents) > 0 { // a reconnect: agents that began waiting meanwhile ring too
		for id, a := range s.Agents {
			m.noteAgent(m.agents[id], a)
		}
	}
	m.agents = s.Agents
	if m.agents == nil {
		m.agents = map[string]wire.Agent{}
	}
	for _, c := range s.Commands {
		m.cmds[c.ID] = c
		m.watch(c)
	}
	m.list.setAgents(m.agents)
	m.updateTarget()
	m.refreshWaiting()
}

func (m *Model) onCommand(c wire.Command) {
	m.cmds[c.ID] = c
	m.watch(c)
	if c.Session && c.State == wire.StateRunning && m.reopen[c.AgentID] {
		delete(m.reopen, c.AgentID)
		m.openPane(c)
	}
	if i := m.panes.find(c.ID); i >= 0 {
		p := m.panes.panes[i]
		switch {
		case c.State == wire.StateRunning && (m.mine[c.ID] || (m.interactive && i == m.panes.focus)):
			m.fitRemote(p)
		case c.Cols > 0 && c.Rows > 0:
			// Someone else sized the command's terminal: follow it.
			p.t.resize(c.Cols, c.Rows)
			p.dirty = true
		}
	}
	if c.State.Final() {
		if p := m.panes.focused(); m.interactive && p != nil && p.id == c.ID {
			m.leaveInteractive()
			m.setFlash("the command ended; the keyboard is yours again", false)
		}
	}
}

// watch follows every running command's output, so that the list can tell
// which are waiting. A command already running when the dashboard joins is
// followed from its last retainBytes only.
func (m *Model) watch(c wire.Command) {
	if c.State != wire.StateRunning || m.streams[c.ID] != nil {
		return
	}
	from := max(c.OutputBytes-retainBytes, 0)
	m.streams[c.ID] = newStream(c.ID, from, c.OutputBytes, m.c.now())
	m.out.subscribe(c.ID, from)
}

// streamFor returns the command's stream, subscribing from the start when
// there is none yet.
func (m *Model) streamFor(c wire.Command) *stream {
	if st := m.streams[c.ID]; st != nil {
		return st
	}
	st := newStream(c.ID, 0, c.OutputBytes, m.c.now())
	if c.State.Final() {
		st.liveFrom = 1 << 62 // all of it is history
	}
	m.streams[c.ID] = st
	m.out.subscribe(c.ID, 0)
	return st
}

// refreshWaiting recounts waiting commands per agent for the list and
// reports whether anything changed.
func (m *Model) refreshWaiting() bool {
	w := map[string]int{}
	for id, c := range m.cmds {
		if m.isWaiting(id) {
			w[c.AgentID]++
		}
	}
	changed := !maps.Equal(w, m.list.waiting)
	m.list.waiting = w
	return changed
}

// isWaiting: running, and its agent says it waits for a person.
func (m *Model) isWaiting(id string) bool {
	c := m.cmds[id]
	return c.State == wire.StateRunning && c.Attention == wire.AttentionWaiting
}

// onConnState keeps the connection's state for the status line, and says
// so when the client moved to another relay.
func (m *Model) onConnState(ev client.ConnState) {
	m.conn = ev
	m.retryAt = m.c.now().Add(ev.RetryIn)
	if ev.State != client.Connected || ev.Relay == "" {
		return
	}
	m.relay = relayAddr(ev.Relay)
	if ev.From != "" {
		m.setFlash(fmt.Sprintf("relay %s lost: moved to %s", relayAddr(ev.From), m.relay), false)
		m.log.Info("moved to another relay", "from", ev.From, "to", ev.Relay)
	}
}

// relayAddr shortens a relay's dashboard URL for the status line:
// ws://HOST:PORT/ws/dashboard is HOST:PORT (wss:// stays, so a secure
// connection is told apart).
func relayAddr(url string) string {
	url = strings.TrimSuffix(url, wire.DashboardPath)
	return strings.TrimPrefix(url, "ws://")
}
