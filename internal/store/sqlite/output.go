package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"switchboard/internal/store"
)

// readStmts are prepared on the read pool for the reads that repeat often.
type readStmts struct {
	output *sql.Stmt
}

// selectOutput scans a command's chunks from the one holding ?2 (the last
// starting at or before it) or, if none does, from ?2 itself. Both bounds
// are index seeks, so replay never reads chunks before the one it needs.
const selectOutput = `SELECT off, data FROM output
WHERE command_id = ?1
  AND off >= coalesce((SELECT max(off) FROM output WHERE command_id = ?1 AND off <= ?2), ?2)
ORDER BY off`

func prepareReads(ctx context.Context, r *sql.DB) (readStmts, error) {
	var s readStmts
	err := prepareAll(ctx, r, map[**sql.Stmt]string{&s.output: selectOutput})
	return s, err
}

func (s readStmts) close() error { return closeAll(s.output) }

// ReadOutput returns up to limit bytes of the command's output from offset
// from, stopping early at a gap (bytes lost on the agent) unless the gap is
// at from itself: then it skips to the first stored byte after from, which
// start reports.
func (db *DB) ReadOutput(ctx context.Context, commandID string, from int64, limit int) ([]byte, int64, error) {
	if limit <= 0 {
		return nil, from, fmt.Errorf("store %s: read output of %s: limit %d is not positive", db.path, commandID, limit)
	}
	data, start, err := db.readOutput(ctx, commandID, from, limit)
	if err != nil {
		return nil, from, fmt.Errorf("store %s: read output of %s from %d: %w", db.path, commandID, from, err)
	}
	return data, start, nil
}

func (db *DB) readOutput(ctx context.Context, commandID string, from int64, limit int) ([]byte, int64, error) {
	rows, err := db.reads.output.QueryContext(ctx, commandID, from)
	if err != nil {
		return nil, from, err
	}
	defer rows.Close()
	s := store.NewSpan(from, limit)
	for rows.Next() {
		var (
			off  int64
			data sql.RawBytes // Add copies it, so no copy of its own
		)
		if err := rows.Scan(&off, &data); err != nil {
			return nil, from, err
		}
		if !s.Add(off, data) {
			break
		}
	}
	// Close before Err: a Scan into RawBytes keeps the rows' read lock
	// until the next Next or Close, and Err asks for it again, which
	// waits forever behind a canceled context's close of the rows.
	if err := rows.Close(); err != nil {
		return nil, from, err
	}
	if err := rows.Err(); err != nil {
		return nil, from, err
	}
	data, start := s.Bytes()
	return data, start, nil
}
