package hub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// Sessions an agent opens itself (agent -- PROGRAM). The agent chooses a
// session's id, so the relay takes one only if no command has it: an id
// of another agent's command, or of any stored command, would let the
// agent write that command's history (its agent, argv, exit code and
// output). An id the relay does not hold in memory is looked up in the
// store while the agent's reading is paused (handler's then), so that the
// session's output, which follows, waits for the answer instead of being
// dropped. An agent re-announces its own live session on every
// connection; that is ignored.

// storeLookup bounds a session id's lookup.
const storeLookup = 10 * time.Second

// sessionOpened registers a session; then looks the id up in the store
// when memory does not know it.
func (h *Local) sessionOpened(ac *agent, m *wire.SessionOpened) (then func()) {
	id := m.Command.ID
	if !wire.ValidID(id) {
		ac.peer.SendError(wire.CodeInvalidArgument, fmt.Sprintf("session id %q is not a valid id", id), "", "")
		return nil
	}
	h.mu.Lock()
	known, err := h.sessionKnownLocked(ac, id)
	h.mu.Unlock()
	switch {
	case err != nil:
		h.refuseSession(ac, id, err)
		return nil
	case known:
		return nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(h.ctx, storeLookup)
		defer cancel()
		cmds, err := h.store.History(ctx, store.HistoryQuery{ID: id, Limit: 1})
		switch {
		case errors.Is(err, store.ErrNotFound), err == nil && len(cmds) == 0:
		case err != nil:
			ac.peer.SendError(wire.CodeStorage, fmt.Sprintf("look up session id %s: %v; send it again", id, err), "", id)
			return
		case cmds[0].AgentID == ac.agentID && cmds[0].Session:
			return // its own session, over and stored: nothing to open
		default:
			h.refuseSession(ac, id, fmt.Errorf("session id %s is taken by another command", id))
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.openSessionLocked(ac, m.Command)
	}
}

// sessionKnownLocked reports whether id is this agent's session already,
// and refuses an id memory holds for anything else.
func (h *Local) sessionKnownLocked(ac *agent, id string) (bool, error) {
	cs := h.commands[id]
	switch {
	case cs == nil:
		return false, nil
	case cs.cmd.AgentID == ac.agentID && cs.cmd.Session:
		return true, nil
	}
	return false, fmt.Errorf("session id %s is taken by another command", id)
}

// openSessionLocked registers a session whose id is new.
func (h *Local) openSessionLocked(ac *agent, c wire.Command) {
	a := h.agents[ac.agentID]
	if a == nil || a.conn != ac {
		return // the connection was replaced meanwhile; the next one announces it again
	}
	if known, err := h.sessionKnownLocked(ac, c.ID); known || err != nil {
		if err != nil {
			h.refuseSession(ac, c.ID, err)
		}
		return
	}
	open := 0
	for _, cs := range a.live {
		if cs.cmd.Session {
			open++
		}
	}
	if open >= h.cfg.MaxAgentSessions {
		h.refuseSession(ac, c.ID, fmt.Errorf("agent %s has %d sessions open, the limit (relay --agent-max-sessions)", ac.name, open))
		return
	}
	now := time.Now().UTC()
	c.AgentID, c.AgentName, c.Session = ac.agentID, ac.name, true
	c.State, c.RequestedBy, c.CreatedAt = wire.StateRunning, "agent "+ac.name, now
	c.ExitCode, c.Signal, c.Reason, c.EndedAt, c.OutputBytes, c.LostBytes = nil, "", "", time.Time{}, 0, 0
	if c.StartedAt.IsZero() {
		c.StartedAt = now
	}
	eraseEnv(&c)
	cs := h.newCommandState(c)
	h.commands[c.ID] = cs
	a.live[c.ID] = cs
	h.commandChangedLocked(cs)
	h.agentChangedLocked(a)
}

// refuseSession tells the agent, and the audit trail, why its session
// was not taken.
func (h *Local) refuseSession(ac *agent, id string, err error) {
	ac.log.Warn("refused a session", "command_id", id, "why", err)
	h.AuditDenied(ac.who, "session", id, fmt.Sprintf("agent %s (%s): %v", ac.name, ac.agentID, err))
	ac.peer.SendError(wire.CodeInvalidArgument, err.Error(), "", id)
}
