package hub

import (
	"slices"
	"time"

	"switchboard/internal/wire"
)

// agentState is one agent the relay knows of, connected or not.
// Guarded by Local.mu.
type agentState struct {
	info         wire.Agent
	conn         *agent // nil while offline
	offlineSince time.Time
	live         map[string]*commandState // its queued and running commands
	queue        []*commandState          // its queued commands, oldest first
	// holder is the other relay its connection is on (cluster.go); ""
	// when it is connected here or offline.
	holder string
}

// refresh derives status, running count and attention from the live
// commands.
func (a *agentState) refresh() {
	if a.conn == nil && a.holder != "" {
		return // its relay says how it is
	}
	a.info.Running = 0
	for _, cs := range a.live {
		if cs.cmd.State == wire.StateRunning {
			a.info.Running++
		}
	}
	switch {
	case a.conn == nil:
		a.info.Status = wire.AgentOffline
	case a.info.Running > 0:
		a.info.Status = wire.AgentBusy
	default:
		a.info.Status = wire.AgentIdle
	}
	a.summarize()
}

func (a *agentState) unqueue(cs *commandState) {
	a.queue = slices.DeleteFunc(a.queue, func(q *commandState) bool { return q == cs })
}

// commandState is one command the relay holds in memory.
type commandState struct {
	cmd           wire.Command // guarded by Local.mu
	out           *outputLog   // its own lock
	stored        bool         // its record is in the store: only then may it start
	dispatched    bool         // start was sent on the agent's current connection
	cancelPending bool         // a cancel waits for the agent to reconnect
	exit          *wire.Exited // the agent's exit report, waiting for output to catch up
	// finalStored is closed once its final state is stored, and with it
	// every byte of its output and every timing record (recordings.go).
	finalStored chan struct{}
	// controller is the dashboard that last sent the command input: only
	// its terminal's replies to queries reach the program (input.go).
	controller *dashboard
	// owner is the relay that drives the command (cluster.go): "" for
	// this one; another's id for a copy kept from the shared log.
	owner      string
	epoch      uint64 // its changes of owner so far (BusEvent.Epoch)
	handingOff bool   // a hand-off to the agent's relay is in flight
}

// snapshot is the command as dashboards see it now.
func (cs *commandState) snapshot() wire.Command {
	c := cs.cmd
	if cs.owner != "" {
		return c // a copy: its owner counts its output
	}
	c.OutputBytes = cs.out.size()
	if c.State == wire.StateRunning && c.Attention == "" {
		c.Attention, c.AttentionSince = wire.AttentionWorking, c.StartedAt // until its agent says
	}
	return c
}

// dispatchLocked sends queued commands to the agent while it has room.
// A command starts only once its record is stored: a relay that restarted
// without it would not know the command its agent holds, and would throw
// the output away.
func (h *Local) dispatchLocked(a *agentState) {
	if a.conn == nil {
		if a.holder != "" && a.holder != unknownOwner {
			h.handOffLocked(a)
		}
		return
	}
	active := 0
	for _, cs := range a.live {
		if cs.cmd.State == wire.StateRunning || cs.dispatched {
			active++
		}
	}
	limit := max(a.info.MaxConcurrent, 1)
	for _, cs := range a.queue {
		if active >= limit {
			return
		}
		if cs.dispatched || !cs.stored || cs.owner != "" {
			continue
		}
		cs.dispatched = true
		active++
		a.conn.peer.SendMessage(&wire.Start{Command: cs.cmd})
	}
}

// finalizeLocked puts a command in its final state, ends its output
// stream, and lets its agent take the next queued command.
func (h *Local) finalizeLocked(cs *commandState, ex wire.Exited) {
	c := &cs.cmd
	if c.State.Final() {
		return
	}
	c.State, c.ExitCode, c.Signal, c.Reason = ex.State, ex.ExitCode, ex.Signal, ex.Reason
	eraseEnv(c)
	c.EndedAt = ex.EndedAt
	if c.EndedAt.IsZero() {
		c.EndedAt = time.Now().UTC()
	}
	c.DurationMS = ex.DurationMS
	if c.DurationMS == 0 && !c.StartedAt.IsZero() {
		c.DurationMS = c.EndedAt.Sub(c.StartedAt).Milliseconds()
	}
	cs.exit = nil
	h.attentionEndedLocked(cs)
	h.metrics.commands.WithLabelValues(string(c.State)).Inc()
	if c.State == wire.StateRejected {
		// Refusals by an agent (its --allow list, a bad program) belong in
		// the trail beside who asked.
		h.Audit(Actor{Token: c.RequestedBy, Remote: c.AgentName}, "rejected", c.ID, "denied", c.Reason)
	}
	h.commandChangedLocked(cs) // dashboards learn the final state before output.end
	cs.out.finish()
	h.addRecent(cs)
	if a := h.agents[c.AgentID]; a != nil {
		delete(a.live, c.ID)
		a.unqueue(cs)
		h.agentChangedLocked(a)
		h.dispatchLocked(a)
	}
}
