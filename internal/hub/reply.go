package hub

import (
	"fmt"
	"strconv"
	"time"

	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// quickReply sends a short answer to a waiting command as input, for an
// operator who has not opened its pane (docs/protocol.md, "Attention").
// Only a waiting command takes one: typing into a program that is busy
// is what the pane is for. Each reply is in the audit trail with its text.
func (h *Local) quickReply(d *dashboard, m *wire.QuickReply) {
	fail := func(code, msg, commandID string) { d.peer.SendError(code, msg, m.RequestID, commandID) }
	switch {
	case m.Text == "" || len(m.Text) > wire.MaxReplyText:
		fail(wire.CodeInvalidArgument, fmt.Sprintf("text must be 1-%d bytes", wire.MaxReplyText), m.CommandID)
		return
	case (m.CommandID == "") == (m.Agent == ""):
		fail(wire.CodeInvalidArgument, "name a command_id or an agent, not both", m.CommandID)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cs, code, msg := h.replyTargetLocked(d.who, m)
	if cs == nil {
		fail(code, msg, m.CommandID)
		return
	}
	id := cs.cmd.ID
	a := h.agents[cs.cmd.AgentID]
	switch {
	case a == nil || a.conn == nil:
		fail(wire.CodeNotRunning, fmt.Sprintf("agent %s of command %s is offline", cs.cmd.AgentName, id), id)
		return
	case a.info.NoInput:
		msg := fmt.Sprintf("agent %s does not accept input (--no-input)", a.info.Name)
		h.Audit(d.who, "quick_reply", id, "denied", msg)
		fail(wire.CodeForbidden, msg, id)
		return
	}
	h.Audit(d.who, "quick_reply", id, "ok", fmt.Sprintf("%s on %s: %s", strconv.Quote(m.Text), a.info.Name, cs.cmd.AttentionReason))
	cs.controller = d
	cs.out.typed(time.Now())
	a.conn.peer.SendNow(transport.Message{Kind: transport.Binary, Data: wire.InputFrame(id, []byte(m.Text))})
	d.peer.SendMessage(&wire.QuickReplySent{RequestID: m.RequestID, CommandID: id})
}

// replyTargetLocked finds the waiting command a reply is for: the one
// named, or the named agent's most urgent one. An agent name several
// agents share picks the one that waits longest.
func (h *Local) replyTargetLocked(p Actor, m *wire.QuickReply) (cs *commandState, code, msg string) {
	if m.CommandID != "" {
		cs = h.commands[m.CommandID]
		switch {
		case cs == nil || !h.seesAgentLocked(p, cs.cmd.AgentID):
			return nil, wire.CodeNotFound, fmt.Sprintf("no command %q", m.CommandID)
		case cs.cmd.State != wire.StateRunning:
			return nil, wire.CodeNotRunning, fmt.Sprintf("command %s is %s, not running", m.CommandID, cs.cmd.State)
		case cs.cmd.Attention != wire.AttentionWaiting:
			return nil, wire.CodeNotWaiting, fmt.Sprintf("command %s is %s, not waiting: open its pane to type into it", m.CommandID, commandAttentionOf(&cs.cmd))
		}
		return cs, "", ""
	}
	var best *agentState
	known := false
	for _, a := range h.agents {
		if (a.info.ID != m.Agent && a.info.Name != m.Agent) || !h.seesAgentLocked(p, a.info.ID) {
			continue
		}
		known = true
		if a.info.Attention == wire.AttentionWaiting && (best == nil || a.info.AttentionSince.Before(best.info.AttentionSince)) {
			best = a
		}
	}
	switch {
	case !known:
		return nil, wire.CodeNotFound, fmt.Sprintf("no agent %q", m.Agent)
	case best == nil:
		return nil, wire.CodeNotWaiting, fmt.Sprintf("agent %s has no command waiting", m.Agent)
	}
	return h.commands[best.info.AttentionCommand], "", ""
}
