package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"switchboard/internal/store"
)

const (
	// insertTimings stores a batch's rows in one statement from arrays,
	// returning those it stored; the others collided with a stored row.
	insertTimings = `INSERT INTO timing (command_id, seq, end_seq, data)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bytea[]) ON CONFLICT DO NOTHING
RETURNING command_id, seq`
	insertTiming = "INSERT INTO timing (command_id, seq, end_seq, data) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
	selectEnd    = "SELECT end_seq FROM timing WHERE command_id = $1 AND seq = $2"
	// selectTiming is every row holding a record numbered $2 or later; a
	// command has a row per commit that carried its timing (one every
	// second or two while it prints), so the scan stays short.
	selectTiming = "SELECT seq, data FROM timing WHERE command_id = $1 AND end_seq > $2 ORDER BY seq LIMIT $3"
)

// writeTiming stores a batch's timing rows: all in one statement, and
// then those that collided with a stored row (a resend) one at a time,
// keeping what they hold past it.
func writeTiming(ctx context.Context, tx pgx.Tx, rows []store.TimingRow) error {
	if len(rows) == 0 {
		return nil
	}
	collided, err := insertAll(ctx, tx, rows)
	if err != nil {
		return fmt.Errorf("timing: %w", err)
	}
	err = store.WriteTiming(collided, func(r store.TimingRow, end uint64) (bool, error) {
		tag, err := tx.Exec(ctx, insertTiming, clean(r.CommandID), int64(r.Seq), int64(end), r.Data)
		return tag.RowsAffected() == 1, err
	}, func(id string, seq uint64) (uint64, error) {
		var e int64
		err := tx.QueryRow(ctx, selectEnd, clean(id), int64(seq)).Scan(&e)
		return uint64(e), err
	})
	if err != nil {
		return fmt.Errorf("timing: %w", err)
	}
	return nil
}

// insertAll inserts rows and returns those that were not stored.
func insertAll(ctx context.Context, tx pgx.Tx, rows []store.TimingRow) ([]store.TimingRow, error) {
	ids, seqs, ends, data := make([]string, len(rows)), make([]int64, len(rows)), make([]int64, len(rows)), make([][]byte, len(rows))
	for i, r := range rows {
		end, err := r.End()
		if err != nil {
			return nil, err
		}
		ids[i], seqs[i], ends[i], data[i] = clean(r.CommandID), int64(r.Seq), int64(end), r.Data
	}
	res, err := tx.Query(ctx, insertTimings, ids, seqs, ends, data)
	if err != nil {
		return nil, err
	}
	type key struct {
		id  string
		seq int64
	}
	stored := map[key]bool{}
	for res.Next() {
		var k key
		if err := res.Scan(&k.id, &k.seq); err != nil {
			res.Close()
			return nil, err
		}
		stored[k] = true
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	var collided []store.TimingRow
	for i, r := range rows {
		if !stored[key{ids[i], seqs[i]}] {
			collided = append(collided, r)
		}
	}
	return collided, nil
}

// ReadTiming returns up to limit rows of the command's timing that hold
// records numbered from or later, in order.
func (s *Store) ReadTiming(ctx context.Context, commandID string, from uint64, limit int) ([]store.TimingRow, error) {
	rows, err := s.r.Query(ctx, selectTiming, clean(commandID), int64(from), min(max(limit, 1), store.TimingPage))
	if err != nil {
		return nil, fmt.Errorf("store %s: read timing of %s: %w", s.name, commandID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.TimingRow, error) {
		r := store.TimingRow{CommandID: commandID}
		var seq int64
		err := row.Scan(&seq, &r.Data)
		r.Seq = uint64(seq)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: read timing of %s: %w", s.name, commandID, err)
	}
	return out, nil
}
