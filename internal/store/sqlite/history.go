package sqlite

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
func (db *DB) History(ctx context.Context, q store.HistoryQuery) ([]wire.Command, error) {
	query, args := historySQL(q)
	cmds, err := queryCommands(ctx, db.r, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store %s: history: %w", db.path, err)
	}
	if q.ID != "" && len(cmds) == 0 {
		return nil, fmt.Errorf("store %s: history: command %s: %w", db.path, q.ID, store.ErrNotFound)
	}
	return cmds, nil
}

// historySQL writes only the filters q sets: one statement whose filters
// its arguments could switch off would keep SQLite from using an index.
func historySQL(q store.HistoryQuery) (string, []any) {
	var (
		where []string
		args  []any
	)
	if q.AgentID != "" {
		where, args = append(where, "agent_id = ?"), append(args, q.AgentID)
	}
	if q.ID != "" {
		where, args = append(where, "id = ?"), append(args, q.ID)
	}
	query := "SELECT " + sqlrow.List("", sqlrow.CommandColumns) + " FROM commands"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	return query + " ORDER BY created_at DESC, id DESC LIMIT ?", append(args, store.PageSize(q.Limit))
}
