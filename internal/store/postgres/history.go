package postgres

import (
	"context"
	"fmt"
	"strings"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
	"switchboard/internal/wire"
)

// History returns commands newest first (by creation time). A query naming
// a command that does not exist fails with store.ErrNotFound; one naming an
// agent without commands returns none.
func (s *Store) History(ctx context.Context, q store.HistoryQuery) ([]wire.Command, error) {
	query, args := historySQL(q)
	rows, _ := s.pool.Query(ctx, query, args...) // collect reports its error
	cmds, err := collect(rows, scanCommand)
	if err != nil {
		return nil, fmt.Errorf("store %s: history: %w", s.name, err)
	}
	if q.ID != "" && len(cmds) == 0 {
		return nil, fmt.Errorf("store %s: history: command %s: %w", s.name, q.ID, store.ErrNotFound)
	}
	return cmds, nil
}

// historySQL writes only the filters q sets, so that each kind of query
// has a plan of its own on the index that suits it.
func historySQL(q store.HistoryQuery) (string, []any) {
	var (
		where []string
		args  []any
	)
	if q.AgentID != "" {
		args = append(args, clean(q.AgentID))
		where = append(where, "agent_id = "+dollar(len(args)))
	}
	if q.ID != "" {
		args = append(args, clean(q.ID))
		where = append(where, "id = "+dollar(len(args)))
	}
	query := "SELECT " + sqlrow.List("", sqlrow.CommandColumns) + " FROM commands"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, store.PageSize(q.Limit))
	return query + " ORDER BY created_at DESC, id DESC LIMIT " + dollar(len(args)), args
}
