package relay

import (
	"fmt"
	"time"

	"switchboard/internal/wire"
)

// An agent reports a command's end with the total output it produced
// (exited.offset), after sending that output. Output still missing when
// exited arrives is on its way (resent after a reconnect) or lost without
// an output.dropped; either way the command may not wait for it forever.

// awaitOutputLocked gives the output exited announced ExitWait to arrive;
// then giveUpOnOutput ends the command without it. The timer's goroutine
// ends after that one call.
func (r *Relay) awaitOutputLocked(cs *commandState, ex *wire.Exited) {
	time.AfterFunc(r.cfg.ExitWait, func() { r.giveUpOnOutput(cs, ex) })
}

// giveUpOnOutput ends a command whose exit is still waiting for output,
// counting what never came as lost.
func (r *Relay) giveUpOnOutput(cs *commandState, ex *wire.Exited) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil || cs.exit != ex || cs.cmd.State.Final() {
		return // the output came, a later exit replaced this one, or the relay is stopping
	}
	from := cs.out.size()
	if missing := ex.Offset - from; missing > 0 {
		r.log.Warn("an agent's exit announced output that never came; counted as lost", "command_id", cs.cmd.ID,
			"agent", cs.cmd.AgentName, "from", from, "to", ex.Offset, "waited", r.cfg.ExitWait)
		cs.cmd.LostBytes += missing
		cs.out.skipOver(from, ex.Offset)
	}
	r.finalizeLocked(cs, *ex)
}

// unreportedGap counts as lost the bytes an output frame skipped without
// an output.dropped, and tells the agent it broke the protocol's rule.
func (r *Relay) unreportedGap(ac *agentConn, id string, from, to int64) {
	msg := fmt.Sprintf("output frame at offset %d skips bytes [%d, %d) that no output.dropped reported; counted as lost", to, from, to)
	ac.log.Warn("agent skipped output without reporting it", "command_id", id, "from", from, "to", to)
	ac.conn.SendError(wire.CodeInvalidArgument, msg, "", id)
	r.mu.Lock()
	defer r.mu.Unlock()
	if cs := r.ownedCommandLocked(ac, id); cs != nil && !cs.cmd.State.Final() {
		cs.cmd.LostBytes += to - from
		r.commandChangedLocked(cs)
	}
}
