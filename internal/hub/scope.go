package hub

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"switchboard/internal/wire"
)

// Scoped tokens (relay token create --scope pool=ci): a viewer or operator
// token that carries labels sees and drives only the agents whose labels
// include them all, and those agents' commands: the snapshot and events
// it gets, its history, the output it may follow, and what it may run,
// type into, resize, cancel, reply to and restart. Everything else behaves
// for it as if it did not exist (not_found), except a run aimed at an
// agent outside its scope, which is refused (forbidden). What an agent's
// labels are is decided by the agent: a scoped token follows them as they
// change.

// scopeAdmits reports whether a scope admits an agent with these labels; a nil
// scope admits every agent.
func scopeAdmits(scope, labels wire.Strings) bool {
	for k, v := range scope {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// seesAgentLocked reports whether p may see and drive the agent.
func (h *Local) seesAgentLocked(p Actor, agentID string) bool {
	if p.Scope == nil {
		return true
	}
	a := h.agents[agentID]
	return a != nil && scopeAdmits(p.Scope, a.info.Labels)
}

// seenAgentIDsLocked lists the agents p may see, for a history query;
// nil when p sees every agent.
func (h *Local) seenAgentIDsLocked(p Actor) []string {
	if p.Scope == nil {
		return nil
	}
	ids := []string{}
	for id, a := range h.agents {
		if scopeAdmits(p.Scope, a.info.Labels) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// outOfScope is the refusal of a run aimed at an agent outside p's scope.
func outOfScope(p Actor, a *agentState) string {
	return fmt.Sprintf("token %s may run only on agents with %s; %s is not one", p.Token, formatScope(p.Scope), a.info.Name)
}

func formatScope(s wire.Strings) string {
	keys := slices.Sorted(maps.Keys(s))
	for i, k := range keys {
		keys[i] = k + "=" + s[k]
	}
	return strings.Join(keys, ",")
}

// scopedSnapshotLocked is the snapshot for a scoped dashboard: only what
// it may see, built for it (the shared cache holds the whole state).
func (h *Local) scopedSnapshotLocked(p Actor) [][]byte {
	var agents, cmds [][]byte
	for id, a := range h.agents {
		if h.seesAgentLocked(p, id) {
			a.refresh()
			agents = append(agents, mustJSON(a.info))
		}
	}
	for _, cs := range h.commands {
		if h.seesAgentLocked(p, cs.cmd.AgentID) {
			cmds = append(cmds, mustJSON(forDashboards(cs.snapshot())))
		}
	}
	return assembleSnapshot(h.seq, agents, cmds)
}
