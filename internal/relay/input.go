package relay

import (
	"fmt"
	"time"

	"switchboard/internal/auth"
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
func (r *Relay) dashboardInput(d *dashboard, data []byte) {
	f, err := wire.ParseFrame(data)
	if err == nil && f.Kind != wire.FrameInput && f.Kind != wire.FrameReply {
		err = fmt.Errorf("%w: dashboards send input frames (kind 2) and reply frames (kind 3), not kind %d", wire.ErrBadMessage, f.Kind)
	}
	if err != nil {
		d.conn.SendError(wire.ErrorCode(err), err.Error(), "", "")
		return
	}
	if !r.permit(d, auth.ActInput, "", f.CommandID) || limited(d, d.input, "input frames", "", f.CommandID) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f.Kind == wire.FrameReply {
		r.forwardReplyLocked(d, f, data)
		return
	}
	cs, ac := r.runningLocked(d, f.CommandID)
	if ac == nil {
		return
	}
	if a := r.agents[cs.cmd.AgentID]; a != nil && a.info.NoInput {
		msg := fmt.Sprintf("agent %s does not accept input (--no-input)", a.info.Name)
		if !d.typing[f.CommandID] {
			d.typing[f.CommandID] = true // audit the refusal once, not per keystroke
			r.audit(d.who, "input_start", f.CommandID, "denied", msg)
		}
		if d.refusalDue(f.CommandID, time.Now()) {
			d.conn.SendError(wire.CodeForbidden, msg, "", f.CommandID)
		}
		return
	}
	if !d.typing[f.CommandID] {
		d.typing[f.CommandID] = true
		r.audit(d.who, "input_start", f.CommandID, "ok", "")
	}
	cs.controller = d
	cs.out.typed(time.Now())
	ac.conn.SendNow(transport.Message{Kind: transport.Binary, Data: data})
}

// forwardReplyLocked sends a reply frame on as input if d controls the
// command, and drops it silently otherwise: it is an automatic answer,
// and nobody is waiting to hear why it went nowhere.
func (r *Relay) forwardReplyLocked(d *dashboard, f wire.Frame, data []byte) {
	cs := r.commands[f.CommandID]
	if cs == nil || cs.controller != d || cs.cmd.State != wire.StateRunning || !r.seesAgentLocked(d.who, cs.cmd.AgentID) {
		return
	}
	a := r.agents[cs.cmd.AgentID]
	if a == nil || a.conn == nil || a.info.NoInput {
		return
	}
	data[0] = wire.FrameInput // data is this message's own buffer; agents know kinds 1 and 2
	ac := a.conn
	ac.conn.SendNow(transport.Message{Kind: transport.Binary, Data: data})
}

// inputEnded closes the audit trail of a dashboard's typing when it
// disconnects, and gives up its control of the commands it typed into.
func (r *Relay) inputEnded(d *dashboard) {
	r.mu.Lock()
	for id := range d.typing {
		if cs := r.commands[id]; cs != nil && cs.controller == d {
			cs.controller = nil
		}
	}
	r.mu.Unlock()
	for id := range d.typing {
		r.audit(d.who, "input_end", id, "ok", "dashboard disconnected")
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
