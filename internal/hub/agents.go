package hub

import (
	"fmt"
	"log/slog"
	"time"

	"switchboard/internal/wire"
)

// agent is one connected agent: the hub's side of its session.
type agent struct {
	h       *Local
	peer    Peer
	agentID string
	name    string
	who     Actor
	log     *slog.Logger
	logs    map[string]*outputLog // output logs of its live commands; owned by the reader
	lastLog *outputLog            // the one it wrote last: most frames are for the same command
}

// JoinAgent registers a connected agent, reconciles the commands it holds
// with what the hub believes, and sends it welcome and work.
func (h *Local) JoinAgent(peer Peer, who Actor, hello *wire.Hello) Agent {
	ac := &agent{h: h, peer: peer, agentID: hello.Agent.ID, name: hello.Agent.Name, logs: make(map[string]*outputLog), who: who,
		log: h.log.With("agent", hello.Agent.Name, "agent_id", hello.Agent.ID)}
	if h.bus != nil {
		h.awaitReady()
		h.takeOver(hello)
	}
	if !h.agentJoined(ac, hello) {
		return nil
	}
	return ac
}

// shuttingDownLocked closes peer if the hub has stopped.
func (h *Local) shuttingDownLocked(peer Peer) bool {
	if h.ctx.Err() == nil {
		return false
	}
	peer.SetWhy("shutdown")
	peer.CloseNow(wire.CloseGoingAway, "relay shutting down")
	return true
}

// agentJoined registers a connected agent, reconciles the commands it
// holds with what the relay believes, and sends it welcome and work.
func (h *Local) agentJoined(ac *agent, hello *wire.Hello) bool {
	now := time.Now().UTC()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shuttingDownLocked(ac.peer) {
		return false
	}
	a := h.agents[ac.agentID]
	if a == nil {
		a = &agentState{live: make(map[string]*commandState)}
		h.agents[ac.agentID] = a
	}
	if a.conn != nil {
		a.conn.peer.SetWhy("replaced")
		a.conn.peer.CloseNow(wire.CloseReplaced, "replaced by a newer connection with the same agent id")
	}
	a.conn, a.holder = ac, ""
	a.info.AgentInfo = *hello.Agent
	a.info.LastSeen = now

	held := make(map[string]bool, len(hello.Holding))
	resume := make([]wire.Ack, 0, len(hello.Holding))
	var acks []wire.Ack
	for _, hc := range hello.Holding {
		held[hc.CommandID] = true
		off := int64(0)
		if cs := h.commands[hc.CommandID]; cs != nil && cs.cmd.AgentID == ac.agentID && cs.owner == "" {
			var stored int64
			off, stored = cs.out.ends()
			if stored > 0 {
				// The ack for these may have been lost with the last
				// connection, and no later commit covers them.
				acks = append(acks, wire.Ack{CommandID: hc.CommandID, Offset: stored})
			}
			if cs.cmd.State == wire.StateQueued {
				h.markRunningLocked(a, cs, now)
			}
		}
		resume = append(resume, wire.Ack{CommandID: hc.CommandID, Offset: off})
	}
	ac.peer.SendMessage(&wire.Welcome{Protocol: wire.ProtocolVersion, Relay: h.cfg.Version,
		HeartbeatMS: h.cfg.HeartbeatEvery.Milliseconds(), Resume: resume, Timing: true})
	for i := range acks {
		ac.peer.SendMessage(&acks[i])
	}
	for _, cs := range a.live {
		switch {
		case cs.owner != "":
			// another relay's: it learns the agent moved from the log
		case held[cs.cmd.ID]:
			if cs.cancelPending {
				cs.cancelPending = false
				ac.peer.SendMessage(&wire.Cancel{CommandID: cs.cmd.ID})
			}
		case cs.cmd.State == wire.StateRunning:
			h.finalizeLocked(cs, wire.Exited{State: wire.StateLost,
				Reason: "the agent reconnected without this command: it was restarted while the command ran"})
		default:
			cs.dispatched = false
		}
	}
	ac.log.Info("agent connected", "remote", ac.peer.Remote(), "holding", len(hello.Holding))
	h.agentChangedLocked(a)
	h.dispatchLocked(a)
	return true
}

// agentLeft marks the agent offline unless a newer connection replaced it.
func (h *Local) agentLeft(ac *agent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[ac.agentID]
	if a == nil || a.conn != ac {
		return
	}
	a.conn = nil
	a.offlineSince = time.Now()
	for _, cs := range a.live {
		cs.dispatched = false
	}
	h.agentChangedLocked(a)
}

func (h *Local) markRunningLocked(a *agentState, cs *commandState, at time.Time) {
	cs.cmd.State = wire.StateRunning
	if cs.cmd.StartedAt.IsZero() {
		cs.cmd.StartedAt = at
	}
	eraseEnv(&cs.cmd) // the agent has them (secrets.go)
	cs.dispatched = false
	a.unqueue(cs)
	h.commandChangedLocked(cs)
}

// What the agent's session reports, in the order it read it.

func (ac *agent) Output(f wire.Frame, raw []byte)     { ac.h.agentOutput(ac, f, raw) }
func (ac *agent) Started(m *wire.Started)             { ac.h.commandStarted(ac, m) }
func (ac *agent) OutputDropped(m *wire.OutputDropped) { ac.h.outputDropped(ac, m) }
func (ac *agent) Attention(m *wire.AttentionReport)   { ac.h.commandAttention(ac, m) }
func (ac *agent) Leave()                              { ac.h.agentLeft(ac) }

func (ac *agent) SessionOpened(m *wire.SessionOpened) (then func()) {
	return ac.h.sessionOpened(ac, m)
}

func (ac *agent) Exited(m *wire.Exited) {
	ac.h.commandExited(ac, m)
	ac.forgetEnded()
}

func (ac *agent) Heartbeat() {
	h := ac.h
	h.mu.Lock()
	if a := h.agents[ac.agentID]; a != nil {
		a.info.LastSeen = time.Now().UTC()
	}
	h.mu.Unlock()
}

// agentOutput is the hot path: one output frame from an agent, appended
// to its command's log, which fans it out.
func (h *Local) agentOutput(ac *agent, f wire.Frame, data []byte) {
	log := ac.lastLog
	if log == nil || log.id != f.CommandID {
		log = ac.logs[f.CommandID]
	}
	if log == nil {
		h.mu.Lock()
		if cs := h.commands[f.CommandID]; cs != nil && cs.cmd.AgentID == ac.agentID && !cs.cmd.State.Final() && cs.owner == "" {
			log = cs.out
		}
		h.mu.Unlock()
		if log == nil {
			// Output for a command this relay has forgotten or finalized long
			// ago: the agent drops it once its exit is acknowledged.
			return
		}
		ac.logs[f.CommandID] = log
	}
	ac.lastLog = log
	if f.Kind == wire.FrameTimed {
		if err := log.addTiming(f.Timing, h.persist); err != nil {
			ac.peer.SendError(wire.ErrorCode(err), err.Error(), "", f.CommandID)
		}
		if len(f.Data) == 0 {
			return
		}
		data = wire.TimedToOutput(data, f)
	}
	gap, exitReady, behind := log.appendFrame(f, data, h.persist)
	for _, s := range behind {
		s.d.fallBehind(log, s.owner, s.next)
	}
	if gap > 0 {
		h.unreportedGap(ac, f.CommandID, f.Offset-gap, f.Offset)
	}
	if exitReady {
		h.completeExit(f.CommandID)
		ac.forgetEnded()
	}
}

// forgetEnded lets go of the output logs of commands that are over, so
// that a long-lived agent costs the logs of its live commands only. The
// reader calls it when it handles an exit, which is when commands end;
// one finalized elsewhere (cancelled, or its exit bounded) goes at the
// next.
func (ac *agent) forgetEnded() {
	for id, l := range ac.logs {
		if l.isEnded() {
			delete(ac.logs, id)
		}
	}
	if ac.lastLog != nil && ac.lastLog.isEnded() {
		ac.lastLog = nil
	}
}

func (h *Local) ownedCommandLocked(ac *agent, id string) *commandState {
	cs := h.commands[id]
	if cs == nil || cs.cmd.AgentID != ac.agentID || cs.owner != "" {
		return nil
	}
	return cs
}

func (h *Local) commandStarted(ac *agent, m *wire.Started) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.ownedCommandLocked(ac, m.CommandID)
	a := h.agents[ac.agentID]
	if cs == nil || a == nil || cs.cmd.State != wire.StateQueued {
		return
	}
	h.markRunningLocked(a, cs, m.StartedAt.UTC())
	h.agentChangedLocked(a)
}

func (h *Local) commandExited(ac *agent, m *wire.Exited) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.ownedCommandLocked(ac, m.CommandID)
	if cs == nil || cs.cmd.State.Final() {
		// Already final here (cancelled while queued, lost, or forgotten):
		// nothing more will be stored, so the agent may let go of it.
		ac.peer.SendMessage(&wire.Ack{CommandID: m.CommandID, Offset: m.Offset, Done: true})
		return
	}
	switch m.State {
	case wire.StateExited, wire.StateCanceled, wire.StateTimedOut, wire.StateRejected:
	default:
		ac.peer.SendError(wire.CodeInvalidArgument, fmt.Sprintf("exited.state %q is not a final state an agent reports", m.State), "", m.CommandID)
		return
	}
	cs.exit = m
	if cs.out.expectExit(m.Offset) {
		h.finalizeLocked(cs, *m)
		return
	}
	h.awaitOutputLocked(cs, m)
}

// completeExit finalizes a command whose missing output has now arrived.
func (h *Local) completeExit(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cs := h.commands[id]; cs != nil && cs.exit != nil {
		h.finalizeLocked(cs, *cs.exit)
	}
}

func (h *Local) outputDropped(ac *agent, m *wire.OutputDropped) {
	if m.From < 0 || m.To < m.From {
		ac.peer.SendError(wire.CodeInvalidArgument, fmt.Sprintf("output.dropped range [%d, %d) is invalid", m.From, m.To), "", m.CommandID)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.ownedCommandLocked(ac, m.CommandID)
	if cs == nil || cs.cmd.State.Final() {
		return
	}
	ac.log.Warn("agent dropped output", "command_id", m.CommandID, "from", m.From, "to", m.To)
	cs.cmd.LostBytes += m.To - m.From
	cs.out.skipOver(m.From, m.To)
	h.commandChangedLocked(cs)
	if cs.exit != nil && cs.out.expectExit(cs.exit.Offset) {
		h.finalizeLocked(cs, *cs.exit)
	}
}
