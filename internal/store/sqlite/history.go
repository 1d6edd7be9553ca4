package sqlite

import (
	"context"
	"fmt"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
	"switchboard/internal/wire"
)

// History returns commands newest first (by creation time). A query naming
// a command that does not exist fails with store.ErrNotFound; one naming an
// agent without commands returns none.
func (db *DB) History(ctx context.Context, q store.HistoryQuery) ([]wire.Command, error) {
	query, args := sqlrow.History(q, question)
	cmds, err := queryCommands(ctx, db.r, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store %s: history: %w", db.path, err)
	}
	if q.ID != "" && len(cmds) == 0 {
		return nil, fmt.Errorf("store %s: history: command %s: %w", db.path, q.ID, store.ErrNotFound)
	}
	return cmds, nil
}
