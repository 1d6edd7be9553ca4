package postgres

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/jackc/pgx/v5"

	"switchboard/internal/store"
)

// selectOutput reads the rows of a command's output that ReadOutput($1,
// $2, $3) may need, and no more: the server sends every row a query
// selects, so unlike SQLite's, this query must bound its rows itself. They
// begin at the row holding byte $2 or, if none does, at $2 (the rows after
// a gap); they end before the first byte stored at or after $2 (the next
// row's start, past a gap) plus $3, since a row starting there cannot add
// to the span. Every bound is a seek on the output key.
const selectOutput = `WITH at AS (
	SELECT off, off + octet_length(data) AS stop FROM output
	WHERE command_id = $1 AND off <= $2::bigint ORDER BY off DESC LIMIT 1
), first AS (
	SELECT CASE WHEN (SELECT stop FROM at) > $2::bigint THEN $2::bigint
		ELSE (SELECT min(off) FROM output WHERE command_id = $1 AND off > $2::bigint) END AS off
)
SELECT o.off, o.data FROM output o, first
WHERE o.command_id = $1
  AND o.off >= CASE WHEN (SELECT stop FROM at) > $2::bigint THEN (SELECT off FROM at) ELSE $2::bigint END
  AND o.off < first.off + $3::bigint
ORDER BY o.off`

// ReadOutput returns up to limit bytes of the command's output from offset
// from, stopping early at a gap (bytes lost on the agent) unless the gap is
// at from itself: then it skips to the first stored byte after from, which
// start reports.
func (s *Store) ReadOutput(ctx context.Context, commandID string, from int64, limit int) ([]byte, int64, error) {
	if limit <= 0 {
		return nil, from, fmt.Errorf("store %s: read output of %s: limit %d is not positive", s.name, commandID, limit)
	}
	data, start, err := s.readOutput(ctx, commandID, from, limit)
	if err != nil {
		return nil, from, fmt.Errorf("store %s: read output of %s from %d: %w", s.name, commandID, from, err)
	}
	return data, start, nil
}

func (s *Store) readOutput(ctx context.Context, commandID string, from int64, limit int) ([]byte, int64, error) {
	// Binary results, so that a row's data is its bytes as received: the
	// span copies them once, with no decoding or copy of their own.
	rows, err := s.r.Query(ctx, selectOutput, pgx.QueryResultFormats{pgx.BinaryFormatCode},
		clean(commandID), from, int64(limit))
	if err != nil {
		return nil, from, err
	}
	defer rows.Close()
	span := store.NewSpan(from, limit)
	for rows.Next() {
		raw := rows.RawValues()
		if len(raw) != 2 || len(raw[0]) != 8 {
			return nil, from, fmt.Errorf("output row is not a binary bigint and bytea: %q", raw)
		}
		if !span.Add(int64(binary.BigEndian.Uint64(raw[0])), raw[1]) {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, from, err
	}
	data, start := span.Bytes()
	return data, start, nil
}

// OutputEnd returns where the command's stored output ends (0 if none):
// a relay taking over a command another relay drove resumes there.
func (s *Store) OutputEnd(ctx context.Context, commandID string) (int64, error) {
	var end int64
	err := s.r.QueryRow(ctx, `SELECT coalesce(max(off + octet_length(data)), 0) FROM output WHERE command_id = $1`,
		clean(commandID)).Scan(&end)
	if err != nil {
		return 0, fmt.Errorf("store %s: output end of %s: %w", s.name, commandID, err)
	}
	return end, nil
}
