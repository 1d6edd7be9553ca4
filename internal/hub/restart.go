package hub

import (
	"fmt"

	"switchboard/internal/auth"
	"switchboard/internal/wire"
)

// restartSession passes a dashboard's session.restart on to the agent,
// which stops its session program if it runs and starts it again. The
// new session reaches dashboards as any session does (sessionOpened).
func (h *Local) restartSession(d *dashboard, m *wire.RestartSession) {
	id := h.ResolveAgent(m.Agent)
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[id]
	if !h.seesAgentLocked(d.who, id) {
		a = nil // out of scope: as if there were none
	}
	refuse := func(code, msg string) {
		h.Audit(d.who, string(auth.ActRestart), id, "error", msg)
		d.peer.SendError(code, msg, m.RequestID, "")
	}
	switch {
	case a == nil:
		d.peer.SendError(wire.CodeNotFound, fmt.Sprintf("no agent %q", m.Agent), m.RequestID, "")
	case len(a.info.Session) == 0:
		refuse(wire.CodeInvalidArgument, fmt.Sprintf("agent %s runs no session program (start one with agent -- PROGRAM)", a.info.Name))
	case a.conn == nil && a.holder != "" && h.bus.Alive(a.holder):
		h.bus.Forward(a.holder, ProxyRequest{Dash: d.id, Client: d.client, Who: d.who, Op: OpRestart, Data: wire.MustEncode(m)})
	case a.conn == nil:
		refuse(wire.CodeNotRunning, fmt.Sprintf("agent %s is offline", a.info.Name))
	default:
		h.Audit(d.who, string(auth.ActRestart), id, "ok", "on "+a.info.Name+": "+wire.CommandSpec{Argv: a.info.Session}.Line())
		a.conn.peer.SendMessage(&wire.RestartSession{Agent: id})
	}
}
