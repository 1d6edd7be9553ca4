package hub

import (
	"fmt"

	"switchboard/internal/wire"
)

// Forgetting an agent (relay agent forget, or from the TUI): an admin
// removes an agent that is gone for good from the live state, the store
// and every dashboard. Its commands stay in history; those still queued
// or awaiting it end. (Its token's binding is the relay's to end.)

// dropAgent takes a forgotten agent out of the live state and every
// dashboard's, and queues its deletion from the store.
func (h *Local) dropAgent(d *dashboard, m *wire.AgentForget) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[h.resolveAgentLocked(m.Agent)]
	switch {
	case a == nil:
		d.peer.SendError(wire.CodeNotFound, fmt.Sprintf("no agent %q", m.Agent), m.RequestID, "")
		return "", false
	case a.conn != nil:
		d.peer.SendError(wire.CodeInvalidArgument, fmt.Sprintf("agent %s (%s) is connected: stop it, or revoke its token, first",
			a.info.Name, a.info.ID), m.RequestID, "")
		return "", false
	}
	id, name := a.info.ID, a.info.Name
	left := make([]*commandState, 0, len(a.live))
	for _, cs := range a.live {
		left = append(left, cs)
	}
	for _, cs := range left {
		state := wire.StateCanceled
		if cs.cmd.State == wire.StateRunning {
			state = wire.StateLost
		}
		h.finalizeLocked(cs, wire.Exited{State: state, Reason: fmt.Sprintf("its agent %s was forgotten by %s", name, d.who.Token)})
	}
	h.broadcastLocked(id, wire.TypeAgentRemoved, id, func(seq uint64) wire.Message {
		return &wire.AgentRemoved{Seq: seq, AgentID: id}
	})
	delete(h.agents, id)
	h.persist.forgetAgent(id)
	h.Audit(d.who, "agent_forget", id, "ok", fmt.Sprintf("%q, with %d commands it had not run", name, len(left)))
	return id, true
}
