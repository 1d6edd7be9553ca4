package hub

import (
	"context"
	"errors"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// ErrNoSearch is a search on a relay whose store keeps no index.
var ErrNoSearch = errors.New("this relay's store keeps no search index")

// Search finds lines of stored output, newest first, of the commands of
// the agents who may see, narrowed to one agent (id or name; ErrNoAgent
// if who sees none of that id or name) and to agents carrying all the
// labels. q.AgentIDs is set here.
func (h *Local) Search(ctx context.Context, who Actor, q store.SearchQuery, agent string, labels wire.Strings) ([]wire.SearchHit, error) {
	if h.index == nil {
		return nil, ErrNoSearch
	}
	h.mu.Lock()
	agentID := ""
	if agent != "" {
		if agentID = h.resolveAgentLocked(agent); agentID == "" || !h.seesAgentLocked(who, agentID) {
			h.mu.Unlock()
			return nil, ErrNoAgent
		}
	}
	q.AgentIDs = nil // every agent's commands, those of agents forgotten too
	if who.Scope != nil || agentID != "" || len(labels) > 0 {
		q.AgentIDs = []string{}
		for id, a := range h.agents {
			if scopeAdmits(who.Scope, a.info.Labels) && scopeAdmits(labels, a.info.Labels) && (agentID == "" || id == agentID) {
				q.AgentIDs = append(q.AgentIDs, id)
			}
		}
	}
	h.mu.Unlock()
	hits, err := h.index.st.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]wire.SearchHit, len(hits))
	for i, s := range hits {
		out[i] = wire.SearchHit{Cursor: s.Cursor, CommandID: s.CommandID, Command: s.Command, AgentID: s.AgentID,
			AgentName: s.AgentName, CreatedAt: s.CreatedAt, Line: s.Line, Offset: s.Offset, Text: s.Text,
			Before: s.Before, After: s.After}
	}
	return out, nil
}
