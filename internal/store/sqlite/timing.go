package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"switchboard/internal/store"
)

// timingStmts read and write the timing table.
type timingStmts struct {
	insert, end *sql.Stmt // on the writer
	read        *sql.Stmt // on the read pool
}

const (
	insertTiming = "INSERT INTO timing (command_id, seq, end_seq, data) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
	selectEnd    = "SELECT end_seq FROM timing WHERE command_id = ? AND seq = ?"
	// selectTiming is every row holding a record numbered ?2 or later; a
	// command has a row per commit that carried its timing (one every
	// second or two while it prints), so the scan stays short.
	selectTiming = "SELECT seq, data FROM timing WHERE command_id = ?1 AND end_seq > ?2 ORDER BY seq LIMIT ?3"
)

func prepareTiming(ctx context.Context, w, r *sql.DB) (timingStmts, error) {
	var s timingStmts
	if err := prepareAll(ctx, w, map[**sql.Stmt]string{&s.insert: insertTiming, &s.end: selectEnd}); err != nil {
		return s, err
	}
	err := prepareAll(ctx, r, map[**sql.Stmt]string{&s.read: selectTiming})
	return s, err
}

func (s timingStmts) close() error { return closeAll(s.insert, s.end, s.read) }

func (db *DB) writeTiming(ctx context.Context, tx *sql.Tx, b *store.Batch) error {
	if len(b.Timing) == 0 {
		return nil
	}
	insert, end := tx.StmtContext(ctx, db.timing.insert), tx.StmtContext(ctx, db.timing.end)
	err := store.WriteTiming(b.Timing, func(r store.TimingRow, endSeq uint64) (bool, error) {
		res, err := insert.ExecContext(ctx, r.CommandID, int64(r.Seq), int64(endSeq), r.Data)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		return n == 1, err
	}, func(id string, seq uint64) (uint64, error) {
		var e int64
		err := end.QueryRowContext(ctx, id, int64(seq)).Scan(&e)
		return uint64(e), err
	})
	if err != nil {
		return fmt.Errorf("timing: %w", err)
	}
	return nil
}

// ReadTiming returns up to limit rows of the command's timing that hold
// records numbered from or later, in order.
func (db *DB) ReadTiming(ctx context.Context, commandID string, from uint64, limit int) ([]store.TimingRow, error) {
	rows, err := db.timing.read.QueryContext(ctx, commandID, int64(from), min(max(limit, 1), store.TimingPage))
	if err != nil {
		return nil, fmt.Errorf("store %s: read timing of %s: %w", db.path, commandID, err)
	}
	defer rows.Close()
	var out []store.TimingRow
	for rows.Next() {
		r := store.TimingRow{CommandID: commandID}
		var seq int64
		if err := rows.Scan(&seq, &r.Data); err != nil {
			return nil, fmt.Errorf("store %s: read timing of %s: %w", db.path, commandID, err)
		}
		r.Seq = uint64(seq)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store %s: read timing of %s: %w", db.path, commandID, err)
	}
	return out, nil
}
