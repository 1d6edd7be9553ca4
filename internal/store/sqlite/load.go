package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
	"switchboard/internal/wire"
)

// selectLive is sqlrow.SelectLive with SQLite's length of a blob.
var selectLive = sqlrow.SelectLive("length")

// Load returns every agent; the live commands, oldest first, each with
// OutputBytes set to the end of its last stored chunk; the 100 final
// commands created last, newest first; and the highest event seq. It reads
// them from one snapshot of the database, so the parts agree with each
// other even while a batch is being written.
func (db *DB) Load(ctx context.Context) (store.State, error) {
	st, err := db.load(ctx)
	if err != nil {
		return store.State{}, fmt.Errorf("store %s: load: %w", db.path, err)
	}
	return st, nil
}

func (db *DB) load(ctx context.Context) (st store.State, err error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return st, err
	}
	defer tx.Rollback() // read-only: ending it cannot lose anything
	if st.Agents, err = queryAgents(ctx, tx); err != nil {
		return st, fmt.Errorf("agents: %w", err)
	}
	if st.Commands, err = queryLive(ctx, tx); err != nil {
		return st, fmt.Errorf("live commands: %w", err)
	}
	if st.Recent, err = queryCommands(ctx, tx, sqlrow.SelectRecent); err != nil {
		return st, fmt.Errorf("recent commands: %w", err)
	}
	var seq int64
	if err := tx.QueryRowContext(ctx, sqlrow.SelectEventSeq).Scan(&seq); err != nil {
		return st, fmt.Errorf("event seq: %w", err)
	}
	st.EventSeq = uint64(seq)
	return st, nil
}

func queryAgents(ctx context.Context, tx *sql.Tx) ([]wire.Agent, error) {
	rows, err := tx.QueryContext(ctx, sqlrow.SelectAgents)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	agents := []wire.Agent{}
	for rows.Next() {
		a, err := sqlrow.ScanAgent(rows)
		if err != nil {
			return nil, err
		}
		agents = append(agents, a)
	}
	return agents, rows.Err()
}

func queryLive(ctx context.Context, tx *sql.Tx) ([]wire.Command, error) {
	rows, err := tx.QueryContext(ctx, selectLive)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cmds := []wire.Command{}
	for rows.Next() {
		var end int64
		c, err := sqlrow.ScanCommand(rows, &end)
		if err != nil {
			return nil, err
		}
		c.OutputBytes = end
		cmds = append(cmds, c)
	}
	return cmds, rows.Err()
}

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func queryCommands(ctx context.Context, q querier, query string, args ...any) ([]wire.Command, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cmds := []wire.Command{}
	for rows.Next() {
		c, err := sqlrow.ScanCommand(rows)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	return cmds, rows.Err()
}
