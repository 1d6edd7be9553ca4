package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
	"switchboard/internal/wire"
)

// selectLive is sqlrow.SelectLive with PostgreSQL's length of a bytea,
// which reads a stored value's length from its header, not its bytes.
var selectLive = sqlrow.SelectLive("octet_length")

// Load returns every agent; the live commands, oldest first, each with
// OutputBytes set to the end of its last stored chunk; the 100 final
// commands created last, newest first; and the highest event seq. It reads
// them from one snapshot (a repeatable-read transaction), so the parts
// agree with each other even while a batch is being written.
func (s *Store) Load(ctx context.Context) (store.State, error) {
	var st store.State
	err := pgx.BeginTxFunc(ctx, s.r, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) (err error) {
			st, err = load(ctx, tx)
			return err
		})
	if err != nil {
		return store.State{}, fmt.Errorf("store %s: load: %w", s.name, err)
	}
	return st, nil
}

func load(ctx context.Context, tx pgx.Tx) (st store.State, err error) {
	rows, _ := tx.Query(ctx, sqlrow.SelectAgents) // CollectRows reports its error
	if st.Agents, err = collect(rows, sqlrow.ScanAgent); err != nil {
		return st, fmt.Errorf("agents: %w", err)
	}
	rows, _ = tx.Query(ctx, selectLive)
	if st.Commands, err = collect(rows, scanLive); err != nil {
		return st, fmt.Errorf("live commands: %w", err)
	}
	rows, _ = tx.Query(ctx, sqlrow.SelectRecent)
	if st.Recent, err = collect(rows, scanCommand); err != nil {
		return st, fmt.Errorf("recent commands: %w", err)
	}
	var seq int64
	if err := tx.QueryRow(ctx, sqlrow.SelectEventSeq).Scan(&seq); err != nil {
		return st, fmt.Errorf("event seq: %w", err)
	}
	st.EventSeq = uint64(seq)
	return st, nil
}

// collect scans every row with scan; an empty result is an empty slice,
// not nil.
func collect[T any](rows pgx.Rows, scan func(sqlrow.Scanner) (T, error)) ([]T, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if out == nil && err == nil {
		out = []T{}
	}
	return out, err
}

func scanCommand(s sqlrow.Scanner) (wire.Command, error) { return sqlrow.ScanCommand(s) }

func scanLive(s sqlrow.Scanner) (wire.Command, error) {
	var end int64
	c, err := sqlrow.ScanCommand(s, &end)
	c.OutputBytes = end
	return c, err
}
