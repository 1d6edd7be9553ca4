package hub

import (
	"fmt"
	"time"

	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// Who may write to a command's terminal (docs/protocol.md, "Input"):
// input frames (kind 2) carry what a person typed or pasted, and are
// forwarded from any operator. Reply frames (kind 3) carry a dashboard's
// terminal emulator answering a query in the command's live output; they
// are forwarded only from the command's controller, the dashboard that
// last sent it input, so a program gets at most one answer however many
// dashboards watch it, and none from a dashboard nobody types into.

// dashboardInput forwards keystrokes, and the controller's replies, to the
// command's agent as they came.
func (h *Local) dashboardInput(d *dashboard, f wire.Frame, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if owner := h.ownerLocked(d, f.CommandID); owner != "" {
		h.bus.Forward(owner, ProxyRequest{Dash: d.id, Client: d.client, Who: d.who, Op: OpInput, Data: data})
		return
	}
	if f.Kind == wire.FrameReply {
		h.forwardReplyLocked(d, f, data)
		return
	}
	cs, ac := h.runningLocked(d, f.CommandID)
	if ac == nil {
		return
	}
	if a := h.agents[cs.cmd.AgentID]; a != nil && a.info.NoInput {
		msg := fmt.Sprintf("agent %s does not accept input (--no-input)", a.info.Name)
		if !d.typing[f.CommandID] {
			d.typing[f.CommandID] = true // audit the refusal once, not per keystroke
			h.Audit(d.who, "input_start", f.CommandID, "denied", msg)
		}
		if d.refusalDue(f.CommandID, time.Now()) {
			d.peer.SendError(wire.CodeForbidden, msg, "", f.CommandID)
		}
		return
	}
	if !d.typing[f.CommandID] {
		d.typing[f.CommandID] = true
		h.Audit(d.who, "input_start", f.CommandID, "ok", "")
	}
	cs.controller = d
	cs.out.typed(time.Now())
	ac.peer.SendNow(transport.Message{Kind: transport.Binary, Data: data})
}

// forwardReplyLocked sends a reply frame on as input if d controls the
// command, and drops it silently otherwise: it is an automatic answer,
// and nobody is waiting to hear why it went nowhere.
func (h *Local) forwardReplyLocked(d *dashboard, f wire.Frame, data []byte) {
	cs := h.commands[f.CommandID]
	if cs == nil || cs.controller != d || cs.cmd.State != wire.StateRunning || !h.seesAgentLocked(d.who, cs.cmd.AgentID) {
		return
	}
	a := h.agents[cs.cmd.AgentID]
	if a == nil || a.conn == nil || a.info.NoInput {
		return
	}
	data[0] = wire.FrameInput // data is this message's own buffer; agents know kinds 1 and 2
	ac := a.conn
	ac.peer.SendNow(transport.Message{Kind: transport.Binary, Data: data})
}

// inputEnded closes the audit trail of a dashboard's typing when it
// disconnects, and gives up its control of the commands it typed into.
func (h *Local) inputEnded(d *dashboard) {
	h.mu.Lock()
	for id := range d.typing {
		if cs := h.commands[id]; cs != nil && cs.controller == d {
			cs.controller = nil
		}
	}
	h.mu.Unlock()
	for id := range d.typing {
		h.Audit(d.who, "input_end", id, "ok", "dashboard disconnected")
	}
}

// Refused input is answered at most once a second per command: keys come
// many a second, and one error says it all.
const (
	refuseEvery  = time.Second
	refuseMemory = 1024 // commands remembered; past it, all are forgotten
)

// refusalDue reports whether refused input to command id should be
// answered now, and if so notes that it was.
func (d *dashboard) refusalDue(id string, now time.Time) bool {
	if last, ok := d.refused[id]; ok && now.Sub(last) < refuseEvery {
		return false
	}
	if d.refused == nil || len(d.refused) >= refuseMemory {
		d.refused = make(map[string]time.Time)
	}
	d.refused[id] = now
	return true
}
