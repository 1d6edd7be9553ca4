package relay

import (
	"context"
	"fmt"

	"switchboard/internal/auth"
	"switchboard/internal/wire"
)

// Forgetting an agent (relay agent forget, or from the TUI): an admin
// removes an agent that is gone for good from the live state, the store
// and every dashboard. Its commands stay in history; those still queued
// or awaiting it end; the binding its token got from its first connection
// ends, so its name and id are free again.

// forgetAgent serves agent.forget. The bindings go from the store before
// the answer, so that once it comes another token may take the agent's
// name; the agent's row goes with the persister's next commit, behind
// any state of it already queued.
func (r *Relay) forgetAgent(d *dashboard, m *wire.AgentForget) {
	if !r.permit(d, auth.ActForgetAgent, m.RequestID, "") {
		return
	}
	id, ok := r.dropAgent(d, m)
	if !ok {
		return
	}
	if r.tokens.binds != nil {
		ctx, cancel := context.WithTimeout(r.ctx, storeLookup)
		defer cancel()
		if err := r.tokens.binds.UnbindAgent(ctx, id); err != nil {
			d.conn.SendError(wire.CodeStorage, fmt.Sprintf("agent %s is forgotten, but its token's binding stays: %v", id, err), m.RequestID, "")
			return
		}
		r.tokens.forgot(id) // again: a reload may have brought the binding back meanwhile
	}
	d.conn.SendMessage(&wire.AgentForgetResult{RequestID: m.RequestID, AgentID: id})
}

// dropAgent takes a forgotten agent out of the live state and every
// dashboard's, and queues its deletion from the store.
func (r *Relay) dropAgent(d *dashboard, m *wire.AgentForget) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.agents[r.resolveAgentLocked(m.Agent)]
	switch {
	case a == nil:
		d.conn.SendError(wire.CodeNotFound, fmt.Sprintf("no agent %q", m.Agent), m.RequestID, "")
		return "", false
	case a.conn != nil:
		d.conn.SendError(wire.CodeInvalidArgument, fmt.Sprintf("agent %s (%s) is connected: stop it, or revoke its token, first",
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
		r.finalizeLocked(cs, wire.Exited{State: state, Reason: fmt.Sprintf("its agent %s was forgotten by %s", name, d.who.token)})
	}
	r.broadcastLocked(id, wire.TypeAgentRemoved, id, func(seq uint64) wire.Message {
		return &wire.AgentRemoved{Seq: seq, AgentID: id}
	})
	delete(r.agents, id)
	r.persist.forgetAgent(id)
	if r.tokens.binds != nil {
		r.tokens.forgot(id)
	}
	r.audit(d.who, "agent_forget", id, "ok", fmt.Sprintf("%q, with %d commands it had not run", name, len(left)))
	return id, true
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
