package relay

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/auth"
	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// agentConn is one live agent connection.
type agentConn struct {
	conn    *transport.Conn
	agentID string
	name    string
	who     principal
	log     *slog.Logger
	logs    map[string]*outputLog // output logs of its live commands; owned by the reader
	lastLog *outputLog            // the one it wrote last: most frames are for the same command
}

func (r *Relay) serveAgent(w http.ResponseWriter, req *http.Request) {
	r.serve(w, req, kindAgent, r.cfg.AgentTimeout, auth.ActRegisterAgent, r.agentSession)
}

// agentSession serves an agent that said hello and was admitted.
//
// Its frame, and its callers', stay on the stack of every idle agent's
// goroutine while it waits in readLoop: what comes before and after the
// wait is in functions of their own, so that their locals are not part of
// it. (A goroutine's stack is halved at a GC only while it uses less than
// a quarter of it; S4's 10,000 idle agents' stacks went from 4 to 8 KiB
// when this wait took 32 bytes more.)
func (r *Relay) agentSession(c *transport.Conn, h *wire.Hello, who principal) {
	ac := r.admitAgent(c, h, who)
	if ac == nil {
		return
	}
	err := c.ReadLoop(func(kind int, data []byte) func() { return r.handleAgentMessage(ac, kind, data) })
	r.agentGone(ac, err)
}

// admitAgent checks an agent's hello and registers it; nil if refused.
//
//go:noinline (see agentSession)
func (r *Relay) admitAgent(c *transport.Conn, h *wire.Hello, who principal) *agentConn {
	if err := r.checkDeclaration(h.Agent); err != nil {
		r.auditAgent(who, h.Agent, err)
		c.SetWhy("handshake")
		c.SendError(wire.CodeBadHandshake, err.Error(), "", "")
		c.Close(wire.CloseBadHandshake, err.Error())
		return nil
	}
	if err := r.claimAgent(who, h.Agent); err != nil {
		r.auditAgent(who, h.Agent, err)
		r.refuseAgent(c, err)
		return nil
	}
	r.auditAgent(who, h.Agent, nil)
	ac := &agentConn{conn: c, agentID: h.Agent.ID, name: h.Agent.Name, logs: make(map[string]*outputLog), who: who,
		log: r.log.With("agent", h.Agent.Name, "agent_id", h.Agent.ID)}
	r.agentJoined(ac, h)
	return ac
}

// agentGone records that an agent's connection ended, with why.
//
//go:noinline (see agentSession)
func (r *Relay) agentGone(ac *agentConn, err error) {
	ac.log.Info("agent disconnected", "remote", ac.conn.Remote(), "err", err)
	r.agentLeft(ac)
}

func validAgentInfo(a *wire.AgentInfo) error {
	switch {
	case a == nil:
		return fmt.Errorf("an agent's hello must carry \"agent\" with its id and name")
	case !wire.ValidID(a.ID):
		return fmt.Errorf("agent id %q must be 1-255 printable ASCII characters without spaces", a.ID)
	case strings.TrimSpace(a.Name) == "" || len(a.Name) > 255:
		return fmt.Errorf("agent name must be 1-255 characters")
	case a.MaxConcurrent < 0 || a.MaxConcurrent > 10000:
		return fmt.Errorf("max_concurrent %d is out of range 0-10000", a.MaxConcurrent)
	}
	return nil
}

// agentJoined registers a connected agent, reconciles the commands it
// holds with what the relay believes, and sends it welcome and work.
func (r *Relay) agentJoined(ac *agentConn, h *wire.Hello) {
	now := time.Now().UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shuttingDownLocked(ac.conn) {
		return
	}
	a := r.agents[ac.agentID]
	if a == nil {
		a = &agentState{live: make(map[string]*commandState)}
		r.agents[ac.agentID] = a
	}
	if a.conn != nil {
		a.conn.conn.SetWhy("replaced")
		a.conn.conn.CloseNow(wire.CloseReplaced, "replaced by a newer connection with the same agent id")
	}
	a.conn = ac
	a.info.AgentInfo = *h.Agent
	a.info.LastSeen = now

	held := make(map[string]bool, len(h.Holding))
	resume := make([]wire.Ack, 0, len(h.Holding))
	var acks []wire.Ack
	for _, hc := range h.Holding {
		held[hc.CommandID] = true
		off := int64(0)
		if cs := r.commands[hc.CommandID]; cs != nil && cs.cmd.AgentID == ac.agentID {
			var stored int64
			off, stored = cs.out.ends()
			if stored > 0 {
				// The ack for these may have been lost with the last
				// connection, and no later commit covers them.
				acks = append(acks, wire.Ack{CommandID: hc.CommandID, Offset: stored})
			}
			if cs.cmd.State == wire.StateQueued {
				r.markRunningLocked(a, cs, now)
			}
		}
		resume = append(resume, wire.Ack{CommandID: hc.CommandID, Offset: off})
	}
	ac.conn.SendMessage(&wire.Welcome{Protocol: wire.ProtocolVersion, Relay: r.cfg.Version,
		HeartbeatMS: r.cfg.HeartbeatEvery.Milliseconds(), Resume: resume, Timing: true})
	for i := range acks {
		ac.conn.SendMessage(&acks[i])
	}
	for _, cs := range a.live {
		switch {
		case held[cs.cmd.ID]:
			if cs.cancelPending {
				cs.cancelPending = false
				ac.conn.SendMessage(&wire.Cancel{CommandID: cs.cmd.ID})
			}
		case cs.cmd.State == wire.StateRunning:
			r.finalizeLocked(cs, wire.Exited{State: wire.StateLost,
				Reason: "the agent reconnected without this command: it was restarted while the command ran"})
		default:
			cs.dispatched = false
		}
	}
	ac.log.Info("agent connected", "remote", ac.conn.Remote(), "holding", len(h.Holding))
	r.agentChangedLocked(a)
	r.dispatchLocked(a)
}

// agentLeft marks the agent offline unless a newer connection replaced it.
func (r *Relay) agentLeft(ac *agentConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.agents[ac.agentID]
	if a == nil || a.conn != ac {
		return
	}
	a.conn = nil
	a.offlineSince = time.Now()
	for _, cs := range a.live {
		cs.dispatched = false
	}
	r.agentChangedLocked(a)
}

func (r *Relay) markRunningLocked(a *agentState, cs *commandState, at time.Time) {
	cs.cmd.State = wire.StateRunning
	if cs.cmd.StartedAt.IsZero() {
		cs.cmd.StartedAt = at
	}
	eraseEnv(&cs.cmd) // the agent has them (secrets.go)
	cs.dispatched = false
	a.unqueue(cs)
	r.commandChangedLocked(cs)
}

// handleAgentMessage handles one message from an agent; then, when not
// nil, must run before its next (see handler).
func (r *Relay) handleAgentMessage(ac *agentConn, kind int, data []byte) (then func()) {
	if kind == websocket.BinaryMessage {
		r.agentOutput(ac, data)
		return nil
	}
	m, err := wire.Decode(data)
	if err != nil {
		ac.conn.SendError(wire.ErrorCode(err), err.Error(), "", "")
		return nil
	}
	switch m := m.(type) {
	case *wire.Started:
		r.commandStarted(ac, m)
	case *wire.Exited:
		r.commandExited(ac, m)
		ac.forgetEnded()
	case *wire.SessionOpened:
		return r.sessionOpened(ac, m)
	case *wire.OutputDropped:
		r.outputDropped(ac, m)
	case *wire.AttentionReport:
		r.commandAttention(ac, m)
	case *wire.Heartbeat:
		r.mu.Lock()
		if a := r.agents[ac.agentID]; a != nil {
			a.info.LastSeen = time.Now().UTC()
		}
		r.mu.Unlock()
	case *wire.Error:
		ac.log.Warn("agent reported an error", "code", m.Code, "message", m.Message, "command_id", m.CommandID)
	default:
		ac.conn.SendError(wire.CodeBadMessage, fmt.Sprintf("%q is not a message an agent may send", m.MessageType()), "", "")
	}
	return nil
}

// agentOutput is the hot path: one output frame from an agent.
func (r *Relay) agentOutput(ac *agentConn, data []byte) {
	f, err := wire.ParseFrame(data)
	if err == nil && f.Kind != wire.FrameOutput && f.Kind != wire.FrameTimed {
		err = fmt.Errorf("%w: agents send output frames (kind 1 or 4), not kind %d", wire.ErrBadMessage, f.Kind)
	}
	if err != nil {
		ac.conn.SendError(wire.ErrorCode(err), err.Error(), "", "")
		return
	}
	log := ac.lastLog
	if log == nil || log.id != f.CommandID {
		log = ac.logs[f.CommandID]
	}
	if log == nil {
		r.mu.Lock()
		if cs := r.commands[f.CommandID]; cs != nil && cs.cmd.AgentID == ac.agentID && !cs.cmd.State.Final() {
			log = cs.out
		}
		r.mu.Unlock()
		if log == nil {
			// Output for a command this relay has forgotten or finalized long
			// ago: the agent drops it once its exit is acknowledged.
			return
		}
		ac.logs[f.CommandID] = log
	}
	ac.lastLog = log
	if f.Kind == wire.FrameTimed {
		if err := log.addTiming(f.Timing, r.persist); err != nil {
			ac.conn.SendError(wire.ErrorCode(err), err.Error(), "", f.CommandID)
		}
		if len(f.Data) == 0 {
			return
		}
		data = wire.TimedToOutput(data, f)
	}
	gap, exitReady, behind := log.appendFrame(f, data, r.persist)
	for _, s := range behind {
		s.d.fallBehind(r, log, s.owner, s.next)
	}
	if gap > 0 {
		r.unreportedGap(ac, f.CommandID, f.Offset-gap, f.Offset)
	}
	if exitReady {
		r.completeExit(f.CommandID)
		ac.forgetEnded()
	}
}

// forgetEnded lets go of the output logs of commands that are over, so
// that a long-lived agent costs the logs of its live commands only. The
// reader calls it when it handles an exit, which is when commands end;
// one finalized elsewhere (cancelled, or its exit bounded) goes at the
// next.
func (ac *agentConn) forgetEnded() {
	for id, l := range ac.logs {
		if l.isEnded() {
			delete(ac.logs, id)
		}
	}
	if ac.lastLog != nil && ac.lastLog.isEnded() {
		ac.lastLog = nil
	}
}

func (r *Relay) ownedCommandLocked(ac *agentConn, id string) *commandState {
	cs := r.commands[id]
	if cs == nil || cs.cmd.AgentID != ac.agentID {
		return nil
	}
	return cs
}

func (r *Relay) commandStarted(ac *agentConn, m *wire.Started) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.ownedCommandLocked(ac, m.CommandID)
	a := r.agents[ac.agentID]
	if cs == nil || a == nil || cs.cmd.State != wire.StateQueued {
		return
	}
	r.markRunningLocked(a, cs, m.StartedAt.UTC())
	r.agentChangedLocked(a)
}

func (r *Relay) commandExited(ac *agentConn, m *wire.Exited) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.ownedCommandLocked(ac, m.CommandID)
	if cs == nil || cs.cmd.State.Final() {
		// Already final here (cancelled while queued, lost, or forgotten):
		// nothing more will be stored, so the agent may let go of it.
		ac.conn.SendMessage(&wire.Ack{CommandID: m.CommandID, Offset: m.Offset, Done: true})
		return
	}
	switch m.State {
	case wire.StateExited, wire.StateCanceled, wire.StateTimedOut, wire.StateRejected:
	default:
		ac.conn.SendError(wire.CodeInvalidArgument, fmt.Sprintf("exited.state %q is not a final state an agent reports", m.State), "", m.CommandID)
		return
	}
	cs.exit = m
	if cs.out.expectExit(m.Offset) {
		r.finalizeLocked(cs, *m)
		return
	}
	r.awaitOutputLocked(cs, m)
}

// completeExit finalizes a command whose missing output has now arrived.
func (r *Relay) completeExit(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cs := r.commands[id]; cs != nil && cs.exit != nil {
		r.finalizeLocked(cs, *cs.exit)
	}
}

func (r *Relay) outputDropped(ac *agentConn, m *wire.OutputDropped) {
	if m.From < 0 || m.To < m.From {
		ac.conn.SendError(wire.CodeInvalidArgument, fmt.Sprintf("output.dropped range [%d, %d) is invalid", m.From, m.To), "", m.CommandID)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.ownedCommandLocked(ac, m.CommandID)
	if cs == nil || cs.cmd.State.Final() {
		return
	}
	ac.log.Warn("agent dropped output", "command_id", m.CommandID, "from", m.From, "to", m.To)
	cs.cmd.LostBytes += m.To - m.From
	cs.out.skipOver(m.From, m.To)
	r.commandChangedLocked(cs)
	if cs.exit != nil && cs.out.expectExit(cs.exit.Offset) {
		r.finalizeLocked(cs, *cs.exit)
	}
}
