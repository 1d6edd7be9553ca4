package postgres

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
func (s *Store) History(ctx context.Context, q store.HistoryQuery) ([]wire.Command, error) {
	query, args := sqlrow.History(q, dollar)
	args = cleanArgs(args)
	rows, _ := s.r.Query(ctx, query, args...) // collect reports its error
	cmds, err := collect(rows, scanCommand)
	if err != nil {
		return nil, fmt.Errorf("store %s: history: %w", s.name, err)
	}
	if q.ID != "" && len(cmds) == 0 {
		return nil, fmt.Errorf("store %s: history: command %s: %w", s.name, q.ID, store.ErrNotFound)
	}
	return cmds, nil
}
