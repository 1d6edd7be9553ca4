package hub

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
func (h *Local) awaitOutputLocked(cs *commandState, ex *wire.Exited) {
	time.AfterFunc(h.cfg.ExitWait, func() { h.giveUpOnOutput(cs, ex) })
}

// giveUpOnOutput ends a command whose exit is still waiting for output,
// counting what never came as lost.
func (h *Local) giveUpOnOutput(cs *commandState, ex *wire.Exited) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctx.Err() != nil || cs.exit != ex || cs.cmd.State.Final() {
		return // the output came, a later exit replaced this one, or the relay is stopping
	}
	from := cs.out.size()
	if missing := ex.Offset - from; missing > 0 {
		h.log.Warn("an agent's exit announced output that never came; counted as lost", "command_id", cs.cmd.ID,
			"agent", cs.cmd.AgentName, "from", from, "to", ex.Offset, "waited", h.cfg.ExitWait)
		cs.cmd.LostBytes += missing
		cs.out.skipOver(from, ex.Offset)
	}
	h.finalizeLocked(cs, *ex)
}

// unreportedGap counts as lost the bytes an output frame skipped without
// an output.dropped, and tells the agent it broke the protocol's rule.
func (h *Local) unreportedGap(ac *agent, id string, from, to int64) {
	msg := fmt.Sprintf("output frame at offset %d skips bytes [%d, %d) that no output.dropped reported; counted as lost", to, from, to)
	ac.log.Warn("agent skipped output without reporting it", "command_id", id, "from", from, "to", to)
	ac.peer.SendError(wire.CodeInvalidArgument, msg, "", id)
	h.mu.Lock()
	defer h.mu.Unlock()
	if cs := h.ownedCommandLocked(ac, id); cs != nil && !cs.cmd.State.Final() {
		cs.cmd.LostBytes += to - from
		h.commandChangedLocked(cs)
	}
}
