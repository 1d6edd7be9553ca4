package relay

import (
	"fmt"

	"switchboard/internal/auth"
	"switchboard/internal/wire"
)

// Forgetting an agent (relay agent forget, or from the TUI): an admin
// removes an agent that is gone for good from the live state, the store
// and every dashboard. Its commands stay in history; those still queued
// or awaiting it end; the binding its token got from its first connection
// ends, so its name and id are free again.

// forgetAgent serves agent.forget.
func (r *Relay) forgetAgent(d *dashboard, m *wire.AgentForget) {
	if !r.permit(d, auth.ActForgetAgent, m.RequestID, "") {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.agents[r.resolveAgentLocked(m.Agent)]
	switch {
	case a == nil:
		d.conn.sendError(wire.CodeNotFound, fmt.Sprintf("no agent %q", m.Agent), m.RequestID, "")
		return
	case a.conn != nil:
		d.conn.sendError(wire.CodeInvalidArgument, fmt.Sprintf("agent %s (%s) is connected: stop it, or revoke its token, first",
			a.info.Name, a.info.ID), m.RequestID, "")
		return
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
		r.finalizeLocked(cs, wire.Exited{State: state, Reason: fmt.Sprintf("its agent %s was forgotten by %s", name, d.who.token)})
	}
	delete(r.agents, id)
	r.persist.forgetAgent(id)
	if r.tokens.binds != nil {
		r.tokens.forgot(id)
	}
	r.audit(d.who, "agent_forget", id, "ok", fmt.Sprintf("%q, with %d commands it had not run", name, len(left)))
	d.conn.sendMessage(&wire.AgentForgetResult{RequestID: m.RequestID, AgentID: id})
	r.broadcastLocked(wire.TypeAgentRemoved, id, func(seq uint64) wire.Message {
		return &wire.AgentRemoved{Seq: seq, AgentID: id}
	})
}

// forgot drops the bindings an agent's first connection made, and keeps
// the name of one made with its token for a new id, as the store does.
func (t *tokens) forgot(agentID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	kept := t.bindings[:0]
	for _, b := range t.bindings {
		switch {
		case b.AgentID != agentID:
		case b.Explicit:
			b.AgentID = ""
		default:
			continue
		}
		kept = append(kept, b)
	}
	t.bindings = kept
}
