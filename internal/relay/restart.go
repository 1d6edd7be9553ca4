package relay

import (
	"fmt"
	"strings"

	"switchboard/internal/auth"
	"switchboard/internal/wire"
)

// restartSession passes a dashboard's session.restart on to the agent,
// which stops its session program if it runs and starts it again. The
// new session reaches dashboards as any session does (sessionOpened).
func (r *Relay) restartSession(d *dashboard, m *wire.RestartSession) {
	if !r.permit(d, auth.ActRestart, m.RequestID, "") {
		return
	}
	id := r.resolveAgent(m.Agent)
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.agents[id]
	if !r.seesAgentLocked(d.who, id) {
		a = nil // out of scope: as if there were none
	}
	refuse := func(code, msg string) {
		r.audit(d.who, string(auth.ActRestart), id, "error", msg)
		d.conn.SendError(code, msg, m.RequestID, "")
	}
	switch {
	case a == nil:
		d.conn.SendError(wire.CodeNotFound, fmt.Sprintf("no agent %q", m.Agent), m.RequestID, "")
	case len(a.info.Session) == 0:
		refuse(wire.CodeInvalidArgument, fmt.Sprintf("agent %s runs no session program (start one with agent -- PROGRAM)", a.info.Name))
	case a.conn == nil:
		refuse(wire.CodeNotRunning, fmt.Sprintf("agent %s is offline", a.info.Name))
	default:
		r.audit(d.who, string(auth.ActRestart), id, "ok", "on "+a.info.Name+": "+strings.Join(a.info.Session, " "))
		a.conn.conn.SendMessage(&wire.RestartSession{Agent: id})
	}
}
