package relay

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

// sees reports whether a scope admits an agent with these labels; a nil
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
func (r *Relay) seesAgentLocked(p principal, agentID string) bool {
	if p.scope == nil {
		return true
	}
	a := r.agents[agentID]
	return a != nil && scopeAdmits(p.scope, a.info.Labels)
}

// seenAgentIDsLocked lists the agents p may see, for a history query;
// nil when p sees every agent.
func (r *Relay) seenAgentIDsLocked(p principal) []string {
	if p.scope == nil {
		return nil
	}
	ids := []string{}
	for id, a := range r.agents {
		if scopeAdmits(p.scope, a.info.Labels) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// outOfScope is the refusal of a run aimed at an agent outside p's scope.
func outOfScope(p principal, a *agentState) string {
	return fmt.Sprintf("token %s may run only on agents with %s; %s is not one", p.token, formatScope(p.scope), a.info.Name)
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
func (r *Relay) scopedSnapshotLocked(p principal) [][]byte {
	var agents, cmds [][]byte
	for id, a := range r.agents {
		if r.seesAgentLocked(p, id) {
			a.refresh()
			agents = append(agents, mustJSON(a.info))
		}
	}
	for _, cs := range r.commands {
		if r.seesAgentLocked(p, cs.cmd.AgentID) {
			cmds = append(cmds, mustJSON(forDashboards(cs.snapshot())))
		}
	}
	return assembleSnapshot(r.seq, agents, cmds)
}
