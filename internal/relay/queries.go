package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"switchboard/internal/auth"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// Dashboards' requests that read the store: history and the audit trail.

func (r *Relay) history(d *dashboard, m *wire.HistoryQuery) {
	if m.Limit < 0 || m.Limit > 1000 {
		d.conn.SendError(wire.CodeInvalidArgument, fmt.Sprintf("limit %d is out of range 0-1000", m.Limit), m.RequestID, "")
		return
	}
	q := store.HistoryQuery{Limit: m.Limit, ID: m.CommandID}
	r.mu.Lock()
	q.AgentIDs = r.seenAgentIDsLocked(d.who)
	if m.Agent != "" {
		q.AgentID = r.resolveAgentLocked(m.Agent)
		if !r.seesAgentLocked(d.who, q.AgentID) {
			q.AgentID = ""
		}
	}
	r.mu.Unlock()
	if m.Agent != "" {
		if q.AgentID == "" {
			d.conn.SendError(wire.CodeNotFound, fmt.Sprintf("no agent %q", m.Agent), m.RequestID, "")
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	cmds, err := r.store.History(ctx, q)
	if errors.Is(err, store.ErrNotFound) {
		cmds, err = nil, nil
	}
	if err != nil {
		d.conn.SendError(wire.CodeStorage, fmt.Sprintf("read history: %v", err), m.RequestID, "")
		return
	}
	cmds = r.mergeLive(cmds, q)
	for i := range cmds {
		cmds[i] = forDashboards(cmds[i])
	}
	d.conn.SendMessage(&wire.HistoryResult{RequestID: m.RequestID, Commands: cmds})
}

// mergeLive overlays what memory knows on stored history: live commands
// change faster than the store, and the newest may not be stored yet.
func (r *Relay) mergeLive(cmds []wire.Command, q store.HistoryQuery) []wire.Command {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[string]bool, len(cmds))
	for i, c := range cmds {
		seen[c.ID] = true
		if cs := r.commands[c.ID]; cs != nil {
			cmds[i] = cs.snapshot()
		}
	}
	for id, cs := range r.commands {
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

// resolveAgent maps an agent id or name to an id, preferring the most
// recently seen agent of that name.
func (r *Relay) resolveAgent(idOrName string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resolveAgentLocked(idOrName)
}

func (r *Relay) resolveAgentLocked(idOrName string) string {
	if _, ok := r.agents[idOrName]; ok {
		return idOrName
	}
	var best *agentState
	for _, a := range r.agents {
		if a.info.Name == idOrName && (best == nil || a.info.LastSeen.After(best.info.LastSeen)) {
			best = a
		}
	}
	if best == nil {
		return ""
	}
	return best.info.ID
}

func (r *Relay) auditQuery(d *dashboard, m *wire.AuditQuery) {
	if !r.permit(d, auth.ActAudit, m.RequestID, "") {
		return
	}
	if r.tokens.store == nil {
		d.conn.SendError(wire.CodeNotFound, "authentication is off: there is no audit trail", m.RequestID, "")
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	entries, err := r.tokens.store.Audit(ctx, m.Limit)
	if err != nil {
		d.conn.SendError(wire.CodeStorage, fmt.Sprintf("read audit trail: %v", err), m.RequestID, "")
		return
	}
	d.conn.SendMessage(&wire.AuditResult{RequestID: m.RequestID, Entries: entries})
}
