package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
)

var _ store.Pruner = (*Store)(nil)

var (
	selectFinished = sqlrow.SelectFinished(dollar)
	selectState    = sqlrow.SelectState(dollar)
	deleteFinished = sqlrow.DeleteFinished(dollar)
	pruneEvents    = sqlrow.PruneEvents(dollar)
	// spaceUsed sums the tables of the schema the connection uses, each
	// with its indexes and TOAST.
	spaceUsed = `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'`
)

// vacuumTables are the tables retention removes rows from.
var vacuumTables = func() string {
	names := []string{"commands", "events"}
	for _, t := range sqlrow.PerCommandTables {
		names = append(names, t.Table)
	}
	return "VACUUM " + strings.Join(names, ", ")
}()

// Retention's statements go through the read pool, which is an ordinary
// pool of connections: the write pool's few are kept for the persister's
// batches, which a removal never holds back (it takes no lock a batch's
// inserts wait for).

// Finished returns up to n finished commands created and ended before
// before (zero: any), oldest created first.
func (s *Store) Finished(ctx context.Context, before time.Time, n int) ([]store.Finished, error) {
	cutoff := int64(1<<63 - 1)
	if !before.IsZero() {
		cutoff = sqlrow.Nanos(before)
	}
	rows, _ := s.r.Query(ctx, selectFinished, cutoff, n) // CollectRows reports its error
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Finished, error) {
		var (
			f              store.Finished
			created, ended int64
		)
		err := r.Scan(&f.ID, &f.AgentID, &created, &ended, &f.OutputBytes)
		f.CreatedAt, f.EndedAt = sqlrow.FromNanos(created), sqlrow.FromNanos(ended)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: finished commands: %w", s.name, err)
	}
	return out, nil
}

// RemoveStep removes up to maxRows rows of a finished command in one
// transaction.
func (s *Store) RemoveStep(ctx context.Context, id string, maxRows int) (r store.Removed, err error) {
	if maxRows <= 0 {
		return r, fmt.Errorf("store %s: remove %s: %d rows is not a bound", s.name, id, maxRows)
	}
	id = clean(id)
	err = pgx.BeginFunc(ctx, s.r, func(tx pgx.Tx) error {
		r = store.Removed{}
		var state string
		// FOR UPDATE: a relay sharing the database cannot make the row
		// live again meanwhile (it never does: a final state is final).
		switch err := tx.QueryRow(ctx, selectState+" FOR UPDATE", id).Scan(&state); {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		case sqlrow.IsLive(state):
			return fmt.Errorf("%s: %w", state, store.ErrLive)
		}
		for _, t := range sqlrow.PerCommandTables {
			if r.Rows >= maxRows {
				break
			}
			rows, _ := tx.Query(ctx, sqlrow.DeleteRows(t, "octet_length", dollar), id, t.StepRows(maxRows-r.Rows))
			sizes, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return fmt.Errorf("%s rows: %w", t.Table, err)
			}
			r.Rows += t.Counted(len(sizes))
			for _, n := range sizes {
				t.AddBytes(&r, n)
			}
		}
		if r.Rows < maxRows {
			tag, err := tx.Exec(ctx, deleteFinished, id)
			if err != nil {
				return err
			}
			r.Rows += int(tag.RowsAffected())
			r.Done = true
		}
		return nil
	})
	if err != nil {
		return store.Removed{}, fmt.Errorf("store %s: remove %s: %w", s.name, id, err)
	}
	return r, nil
}

// SpaceShrinks is false: tables keep the space of removed rows.
func (s *Store) SpaceShrinks() bool { return false }

// Written is the output and timing bytes applied since Open.
func (s *Store) Written() int64 { return s.written.Load() }

// PruneEvents removes up to maxRows events stored before before.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, maxRows int) (int, error) {
	tag, err := s.r.Exec(ctx, pruneEvents, sqlrow.Nanos(before), maxRows)
	if err != nil {
		return 0, fmt.Errorf("store %s: prune events: %w", s.name, err)
	}
	return int(tag.RowsAffected()), nil
}

// SpaceUsed is what the schema's tables take on disk.
func (s *Store) SpaceUsed(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRow(ctx, spaceUsed).Scan(&n); err != nil {
		return 0, fmt.Errorf("store %s: space used: %w", s.name, err)
	}
	return n, nil
}

// Reclaim vacuums the tables rows are removed from, so that their space
// is reused at once rather than when autovacuum comes by. A plain VACUUM
// takes no lock that inserts wait for, and skips the pages it knows
// unchanged. maxPages is SQLite's bound; here there is no more to do.
func (s *Store) Reclaim(ctx context.Context, maxPages int) (bool, error) {
	if _, err := s.r.Exec(ctx, vacuumTables); err != nil {
		return false, fmt.Errorf("store %s: vacuum: %w", s.name, err)
	}
	return false, nil
}
