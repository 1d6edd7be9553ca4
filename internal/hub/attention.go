package hub

import (
	"fmt"
	"strings"
	"time"

	"switchboard/internal/wire"
)

// Attention (docs/awareness.md). Agents decide whether each running
// command needs a person and report it (wire.AttentionReport); the relay
// keeps it on the command (stored with it, so a restarted relay shows it
// at once), sums it up per agent, and tells every dashboard through the
// command and agent events. Changes to and from waiting also go to
// --notify-url (notifyurl.go). Everything here runs under Local.mu.

// maxAttentionAge bounds the age an agent may claim for a state: a day is
// plenty for "quiet since", and a wild value cannot date it before 1970.
const maxAttentionAge = 24 * time.Hour

// commandAttention records an agent's report about one of its commands.
func (h *Local) commandAttention(ac *agent, m *wire.AttentionReport) {
	if !m.State.Reportable() {
		ac.peer.SendError(wire.CodeInvalidArgument, fmt.Sprintf("attention state %q is not waiting, quiet, working or idle", m.State), "", m.CommandID)
		return
	}
	reason, title := wire.CleanText(m.Reason, wire.MaxAttentionReason), wire.CleanText(m.Title, wire.MaxTitle)
	since := time.Now().UTC().Add(-min(max(time.Duration(m.AgeMS)*time.Millisecond, 0), maxAttentionAge))
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.ownedCommandLocked(ac, m.CommandID)
	if cs == nil || cs.cmd.State != wire.StateRunning {
		return // ended meanwhile, or not started here yet
	}
	c := &cs.cmd
	prev := c.Attention
	if prev == m.State && c.AttentionReason == reason && c.Title == title {
		return // a repeat, on a new connection
	}
	if prev != m.State || c.AttentionSince.IsZero() {
		c.AttentionSince = since
	}
	c.Attention, c.AttentionReason, c.Title = m.State, reason, title
	h.commandChangedLocked(cs)
	h.attentionChangedLocked(cs, prev)
}

// attentionChangedLocked follows a command's attention change to its
// agent's summary and, for changes to or from waiting, to --notify-url.
func (h *Local) attentionChangedLocked(cs *commandState, prev wire.Attention) {
	a := h.agents[cs.cmd.AgentID]
	if (prev == wire.AttentionWaiting) != (cs.cmd.Attention == wire.AttentionWaiting) && h.notifier != nil {
		h.notifier.post(newNotifyEvent(cs.cmd, a, prev, time.Now().UTC()))
	}
	if a == nil {
		return
	}
	before := a.info
	a.refresh()
	if a.info.Attention != before.Attention || a.info.AttentionReason != before.AttentionReason ||
		a.info.AttentionCommand != before.AttentionCommand {
		h.agentChangedLocked(a)
	}
}

// attentionEndedLocked clears the attention of a command that is final:
// only running commands have one. The caller broadcasts the command.
func (h *Local) attentionEndedLocked(cs *commandState) {
	prev := cs.cmd.Attention
	cs.cmd.Attention, cs.cmd.AttentionReason, cs.cmd.AttentionSince = "", "", time.Time{}
	if prev == wire.AttentionWaiting && h.notifier != nil {
		h.notifier.post(newNotifyEvent(cs.cmd, h.agents[cs.cmd.AgentID], prev, time.Now().UTC()))
	}
}

// summarize sets the agent's attention: offline while disconnected,
// else its most urgent running command's (among equals, the one in that
// state longest), else idle.
func (a *agentState) summarize() {
	a.info.Attention, a.info.AttentionReason, a.info.AttentionCommand, a.info.AttentionSince =
		wire.AttentionIdle, "", "", time.Time{}
	if a.conn == nil {
		a.info.Attention, a.info.AttentionSince = wire.AttentionOffline, a.offlineSince.UTC()
		return
	}
	var best *wire.Command
	for _, cs := range a.live {
		if cs.cmd.State != wire.StateRunning {
			continue
		}
		if c := &cs.cmd; best == nil || moreUrgent(c, best) {
			best = c
		}
	}
	if best != nil {
		a.info.Attention, a.info.AttentionReason = commandAttentionOf(best), best.AttentionReason
		a.info.AttentionCommand, a.info.AttentionSince = best.ID, best.AttentionSince
	}
}

// commandAttentionOf is a running command's attention; one its agent has
// not reported on yet is working.
func commandAttentionOf(c *wire.Command) wire.Attention {
	if c.Attention == "" {
		return wire.AttentionWorking
	}
	return c.Attention
}

func moreUrgent(c, than *wire.Command) bool {
	cu, tu := commandAttentionOf(c).Urgency(), commandAttentionOf(than).Urgency()
	switch {
	case cu != tu:
		return cu > tu
	case !c.AttentionSince.Equal(than.AttentionSince):
		return c.AttentionSince.Before(than.AttentionSince)
	}
	return strings.Compare(c.ID, than.ID) < 0
}
