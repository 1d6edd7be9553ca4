package hub

import (
	"context"
	"errors"
	"slices"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// ErrNoAgent is a history query naming an agent that who may not see,
// or that there is none of.
var ErrNoAgent = errors.New("no such agent")

// History reads stored history and lays over it what memory knows, as who
// may see it; agent, when not empty, names the one agent to read of.
func (h *Local) History(ctx context.Context, who Actor, q store.HistoryQuery, agent string) ([]wire.Command, error) {
	h.mu.Lock()
	q.AgentIDs = h.seenAgentIDsLocked(who)
	if agent != "" {
		if q.AgentID = h.resolveAgentLocked(agent); !h.seesAgentLocked(who, q.AgentID) {
			q.AgentID = ""
		}
	}
	h.mu.Unlock()
	if agent != "" && q.AgentID == "" {
		return nil, ErrNoAgent
	}
	cmds, err := h.store.History(ctx, q)
	if errors.Is(err, store.ErrNotFound) {
		cmds, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	cmds = h.mergeLive(cmds, q)
	for i := range cmds {
		cmds[i] = forDashboards(cmds[i])
	}
	return cmds, nil
}

// mergeLive overlays what memory knows on stored history: live commands
// change faster than the store, and the newest may not be stored yet.
func (h *Local) mergeLive(cmds []wire.Command, q store.HistoryQuery) []wire.Command {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := make(map[string]bool, len(cmds))
	for i, c := range cmds {
		seen[c.ID] = true
		if cs := h.commands[c.ID]; cs != nil {
			cmds[i] = cs.snapshot()
		}
	}
	for id, cs := range h.commands {
		if !seen[id] && (q.AgentID == "" || q.AgentID == cs.cmd.AgentID) && (q.ID == "" || q.ID == id) &&
			(q.AgentIDs == nil || slices.Contains(q.AgentIDs, cs.cmd.AgentID)) {
			cmds = append(cmds, cs.snapshot())
		}
	}
	slices.SortFunc(cmds, func(a, b wire.Command) int { return b.CreatedAt.Compare(a.CreatedAt) })
	limit := q.Limit
	if limit == 0 {
		limit = 50
	}
	if len(cmds) > limit {
		cmds = cmds[:limit]
	}
	if cmds == nil {
		cmds = []wire.Command{}
	}
	return cmds
}

// ResolveAgent maps an agent id or name to an id, preferring the most
// recently seen agent of that name.
func (h *Local) ResolveAgent(idOrName string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.resolveAgentLocked(idOrName)
}

func (h *Local) resolveAgentLocked(idOrName string) string {
	if _, ok := h.agents[idOrName]; ok {
		return idOrName
	}
	var best *agentState
	for _, a := range h.agents {
		if a.info.Name == idOrName && (best == nil || a.info.LastSeen.After(best.info.LastSeen)) {
			best = a
		}
	}
	if best == nil {
		return ""
	}
	return best.info.ID
}
