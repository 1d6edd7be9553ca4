package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
)

var _ store.Pruner = (*DB)(nil)

// numbered is SQLite's numbered placeholder, which a query may repeat.
func numbered(i int) string { return fmt.Sprintf("?%d", i) }

var (
	selectFinished = sqlrow.SelectFinished(numbered)
	selectState    = sqlrow.SelectState(numbered)
	deleteFinished = sqlrow.DeleteFinished(numbered)
	pruneEvents    = sqlrow.PruneEvents(numbered)
	spaceUsed      = "SELECT (c.page_count - f.freelist_count) * s.page_size FROM pragma_page_count() c, pragma_freelist_count() f, pragma_page_size() s"
)

// AutoVacuumIncremental is PRAGMA auto_vacuum's value for INCREMENTAL.
const AutoVacuumIncremental = 2

// Finished returns up to n finished commands created and ended before
// before (zero: any), oldest created first.
func (db *DB) Finished(ctx context.Context, before time.Time, n int) ([]store.Finished, error) {
	cutoff := int64(1<<63 - 1)
	if !before.IsZero() {
		cutoff = sqlrow.Nanos(before)
	}
	rows, err := db.r.QueryContext(ctx, selectFinished, cutoff, n)
	if err != nil {
		return nil, fmt.Errorf("store %s: finished commands: %w", db.path, err)
	}
	defer rows.Close()
	var out []store.Finished
	for rows.Next() {
		var (
			f              store.Finished
			created, ended int64
		)
		if err := rows.Scan(&f.ID, &f.AgentID, &created, &ended, &f.OutputBytes); err != nil {
			return nil, fmt.Errorf("store %s: finished commands: %w", db.path, err)
		}
		f.CreatedAt, f.EndedAt = sqlrow.FromNanos(created), sqlrow.FromNanos(ended)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store %s: finished commands: %w", db.path, err)
	}
	return out, nil
}

// RemoveStep removes up to maxRows rows of a finished command in one
// transaction on the writer, between two of the persister's batches.
func (db *DB) RemoveStep(ctx context.Context, id string, maxRows int) (r store.Removed, err error) {
	if maxRows <= 0 {
		return r, fmt.Errorf("store %s: remove %s: %d rows is not a bound", db.path, id, maxRows)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return r, fmt.Errorf("store %s: remove %s: begin: %w", db.path, id, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // err says why
		}
	}()
	var state string
	switch err := tx.QueryRowContext(ctx, selectState, id).Scan(&state); {
	case err == sql.ErrNoRows:
	case err != nil:
		return r, fmt.Errorf("store %s: remove %s: %w", db.path, id, err)
	case sqlrow.IsLive(state):
		return r, fmt.Errorf("store %s: remove %s (%s): %w", db.path, id, state, store.ErrLive)
	}
	for _, t := range sqlrow.PerCommandTables {
		if r.Rows >= maxRows {
			break
		}
		n, bytes, err := deleteRows(ctx, tx, sqlrow.DeleteRows(t, "length", numbered), id, t.StepRows(maxRows-r.Rows))
		if err != nil {
			return r, fmt.Errorf("store %s: remove %s: %s rows: %w", db.path, id, t.Table, err)
		}
		r.Rows += t.Counted(n)
		t.AddBytes(&r, bytes)
	}
	if r.Rows < maxRows {
		res, err := tx.ExecContext(ctx, deleteFinished, id)
		if err != nil {
			return r, fmt.Errorf("store %s: remove %s: %w", db.path, id, err)
		}
		n, _ := res.RowsAffected()
		r.Rows += int(n)
		r.Done = true
	}
	if err := tx.Commit(); err != nil {
		return r, fmt.Errorf("store %s: remove %s: commit: %w", db.path, id, err)
	}
	return r, nil
}

// deleteRows runs a DELETE … RETURNING of a row's bytes and sums them.
func deleteRows(ctx context.Context, tx *sql.Tx, query, id string, limit int) (n int, bytes int64, err error) {
	rows, err := tx.QueryContext(ctx, query, id, limit)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var b int64
		if err := rows.Scan(&b); err != nil {
			return n, bytes, err
		}
		n++
		bytes += b
	}
	return n, bytes, rows.Err()
}

// SpaceShrinks is true: SpaceUsed leaves free pages out.
func (db *DB) SpaceShrinks() bool { return true }

// Written is the output and timing bytes applied since Open.
func (db *DB) Written() int64 { return db.written.Load() }

// PruneEvents removes up to maxRows events stored before before.
func (db *DB) PruneEvents(ctx context.Context, before time.Time, maxRows int) (int, error) {
	res, err := db.w.ExecContext(ctx, pruneEvents, sqlrow.Nanos(before), maxRows)
	if err != nil {
		return 0, fmt.Errorf("store %s: prune events: %w", db.path, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// SpaceUsed is the pages in use times the page size: what the file would
// be with its free pages given back.
func (db *DB) SpaceUsed(ctx context.Context) (int64, error) {
	var n int64
	if err := db.r.QueryRowContext(ctx, spaceUsed).Scan(&n); err != nil {
		return 0, fmt.Errorf("store %s: space used: %w", db.path, err)
	}
	return n, nil
}

// Reclaim makes removed rows' space free and gives it back, a bounded
// step of each at a time: the search index's, and the file's.
//
// The search index (FTS5) records a removed line as a delete marker
// beside the entry it cancels, and drops both only when a merge takes in
// the segment holding the entry: its pages do not come free as rows go.
// A merge of every segment into one, done maxPages pages at a time
// ('merge' with a negative count), drops them all; it rewrites the whole
// index, which is why retention runs it only after removals, and bounds
// its steps per pass. Then, when the file is in incremental auto-vacuum
// mode, up to maxPages free pages go back to the file system; in any
// other mode SQLite reuses free pages but the file keeps its size.
func (db *DB) Reclaim(ctx context.Context, maxPages int) (more bool, err error) {
	merging, err := db.mergeSearchIndex(ctx, maxPages)
	if err != nil {
		return false, err
	}
	mode, err := db.AutoVacuum(ctx)
	if err != nil || mode != AutoVacuumIncremental {
		return merging, err
	}
	// Each step of the statement frees pages; reading its rows to the end
	// runs it to the end.
	rows, err := db.w.QueryContext(ctx, fmt.Sprintf("PRAGMA incremental_vacuum(%d)", max(maxPages, 1)))
	if err != nil {
		return false, fmt.Errorf("store %s: incremental vacuum: %w", db.path, err)
	}
	for rows.Next() {
	}
	if err := rows.Close(); err != nil {
		return false, fmt.Errorf("store %s: incremental vacuum: %w", db.path, err)
	}
	var free int64
	if err := db.w.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
		return false, fmt.Errorf("store %s: free pages: %w", db.path, err)
	}
	return merging || free > 0, nil
}

// mergeSearchIndex does one step of merging the search index's segments
// into one, and reports whether it did any work (FTS5's way of saying:
// two changes or more).
func (db *DB) mergeSearchIndex(ctx context.Context, maxPages int) (bool, error) {
	conn, err := db.w.Conn(ctx) // total_changes is the connection's
	if err != nil {
		return false, fmt.Errorf("store %s: merge the search index: %w", db.path, err)
	}
	defer conn.Close()
	var before, after int64
	if err := conn.QueryRowContext(ctx, "SELECT total_changes()").Scan(&before); err != nil {
		return false, fmt.Errorf("store %s: merge the search index: %w", db.path, err)
	}
	merge := fmt.Sprintf("INSERT INTO search_fts (search_fts, rank) VALUES ('merge', %d)", -max(maxPages, 1))
	if _, err := conn.ExecContext(ctx, merge); err != nil {
		return false, fmt.Errorf("store %s: merge the search index: %w", db.path, err)
	}
	if err := conn.QueryRowContext(ctx, "SELECT total_changes()").Scan(&after); err != nil {
		return false, fmt.Errorf("store %s: merge the search index: %w", db.path, err)
	}
	return after-before >= 2, nil
}

// AutoVacuum is the file's auto-vacuum mode: 0 none, 1 full, 2
// incremental (what Open gives a new file).
func (db *DB) AutoVacuum(ctx context.Context) (int, error) {
	var mode int
	if err := db.w.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return 0, fmt.Errorf("store %s: auto-vacuum mode: %w", db.path, err)
	}
	return mode, nil
}

// ConvertToIncremental puts a file made before incremental auto-vacuum
// (or set otherwise) in that mode, which SQLite does only by rewriting
// the whole file (VACUUM): it takes about as long as copying the file,
// holds the write lock meanwhile, and needs as much free disk again. It
// reports whether it had anything to do.
func (db *DB) ConvertToIncremental(ctx context.Context) (bool, error) {
	mode, err := db.AutoVacuum(ctx)
	if err != nil || mode == AutoVacuumIncremental {
		return false, err
	}
	if _, err := db.w.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
		return false, fmt.Errorf("store %s: set incremental auto-vacuum: %w", db.path, err)
	}
	if _, err := db.w.ExecContext(ctx, "VACUUM"); err != nil {
		return false, fmt.Errorf("store %s: vacuum to incremental auto-vacuum: %w", db.path, err)
	}
	if mode, err = db.AutoVacuum(ctx); err != nil {
		return false, err
	}
	if mode != AutoVacuumIncremental {
		return false, fmt.Errorf("store %s: auto-vacuum mode is %d after VACUUM", db.path, mode)
	}
	return true, nil
}
