package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
)

var _ store.Search = (*DB)(nil)

const (
	// insertSearchLines begins the insert of lines, as many rows of
	// (command_id, n, off, text) as one statement holds (linesPerInsert).
	// FTS5 flushes what it holds in memory to a new segment at every
	// statement's savepoint, so a statement per line made a segment per
	// line and then merged them (seq 1 30000 took 20 s under the race
	// detector); search_fts is filled by one statement after them.
	insertSearchLines  = "INSERT INTO search_line (command_id, n, off, text) VALUES "
	linesPerInsert     = 2000
	upsertSearchCursor = `INSERT INTO search_cursor (command_id, off, n, done) VALUES (?, ?, ?, ?)
ON CONFLICT (command_id) DO UPDATE SET off = excluded.off, n = excluded.n, done = excluded.done`
)

// IndexBacklog returns the cursors of the commands not indexed to their
// end, scanning the commands once (a relay's start).
func (db *DB) IndexBacklog(ctx context.Context) ([]store.IndexCursor, error) {
	rows, err := db.r.QueryContext(ctx, sqlrow.SelectIndexBacklog)
	if err != nil {
		return nil, fmt.Errorf("store %s: index backlog: %w", db.path, err)
	}
	cs, err := sqlrow.ScanIndexBacklog(rows)
	if err = errors.Join(err, rows.Close()); err != nil {
		return nil, fmt.Errorf("store %s: index backlog: %w", db.path, err)
	}
	return cs, nil
}

// Index writes the updates in one transaction on the writer, which the
// persister's batches wait for (the indexer keeps its transactions
// small). The commit does not wait for the disk (synchronous NORMAL for
// it alone): the index is made from stored output, and a commit a power
// cut undoes takes its cursors with it, so the lines are indexed again;
// the persister's next commit syncs the WAL, these frames included.
func (db *DB) Index(ctx context.Context, us []store.IndexUpdate) error {
	err := db.withSync(ctx, SyncNormal, func(conn *sql.Conn) error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := indexTx(ctx, tx, us); err != nil {
			_ = tx.Rollback() // err says why
			return err
		}
		return tx.Commit()
	})
	if err != nil {
		return fmt.Errorf("store %s: index %d commands' output: %w%s", db.path, len(us), err, diagnose(db.path, err))
	}
	return nil
}

// withSync runs f on the writer's connection with synchronous set to s,
// then back to the store's own setting.
func (db *DB) withSync(ctx context.Context, s Sync, f func(*sql.Conn) error) (err error) {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if s != db.sync {
		if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = "+string(s)); err != nil {
			return err
		}
		defer func() {
			if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = "+string(db.sync)); rerr != nil {
				// A connection left less durable than the store's
				// setting must not write another batch.
				err = errors.Join(err, rerr, conn.Raw(func(any) error { return driver.ErrBadConn }))
			}
		}()
	}
	return f(conn)
}

func indexTx(ctx context.Context, tx *sql.Tx, us []store.IndexUpdate) error {
	var last int64
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM search_line").Scan(&last); err != nil {
		return err
	}
	exists, err := tx.PrepareContext(ctx, fmt.Sprintf(sqlrow.SelectCommandExists, "?"))
	if err != nil {
		return err
	}
	defer exists.Close()
	var args []any
	for _, u := range us {
		c := u.Cursor
		var n int
		if err := exists.QueryRowContext(ctx, c.CommandID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			continue // deleted meanwhile
		}
		for _, l := range u.Lines {
			args = append(args, c.CommandID, l.N, l.Off, l.Text)
		}
		if _, err := tx.ExecContext(ctx, upsertSearchCursor, c.CommandID, c.Off, c.Line, c.Done); err != nil {
			return err
		}
	}
	for len(args) > 0 {
		n := min(len(args)/4, linesPerInsert)
		q := insertSearchLines + strings.Repeat("(?, ?, ?, ?), ", n-1) + "(?, ?, ?, ?) ON CONFLICT DO NOTHING"
		if _, err := tx.ExecContext(ctx, q, args[:4*n]...); err != nil {
			return err
		}
		args = args[4*n:]
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO search_fts (rowid, text) SELECT id, text FROM search_line WHERE id > ?", last)
	return err
}

// DeleteIndex removes the commands' lines (the trigger takes them out of
// the FTS index) and cursors.
func (db *DB) DeleteIndex(ctx context.Context, ids []string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			for _, q := range []string{sqlrow.DeleteSearchLines, sqlrow.DeleteSearchCursor} {
				if _, err := tx.ExecContext(ctx, fmt.Sprintf(q, "?"), id); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store %s: delete the index of %d commands: %w", db.path, len(ids), err)
	}
	return nil
}

// Search matches the terms with FTS5 (each a quoted phrase, so nothing
// in a query is FTS5 syntax) and walks the matches newest first, so a
// common word costs the first page of its matches, not all of them.
func (db *DB) Search(ctx context.Context, q store.SearchQuery) ([]store.SearchHit, error) {
	if len(q.Terms) == 0 {
		return nil, fmt.Errorf("store %s: search: %w: no terms", db.path, store.ErrBadQuery)
	}
	filter, args := sqlrow.SearchFilter(q, "search_fts.rowid", func(i int) string { return fmt.Sprintf("?%d", i) }, 2,
		func(p string) string { return "(SELECT value FROM json_each(" + p + "))" })
	query := "SELECT " + sqlrow.SearchColumns + ` FROM search_fts
JOIN search_line l ON l.id = search_fts.rowid JOIN commands c ON c.id = l.command_id
WHERE search_fts MATCH ?1` + filter
	hits, err := db.search(ctx, query, append([]any{matchExpr(q.Terms)}, args...), q.Context)
	if err != nil {
		return nil, fmt.Errorf("store %s: search: %w", db.path, err)
	}
	return hits, nil
}

func (db *DB) search(ctx context.Context, query string, args []any, context int) ([]store.SearchHit, error) {
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	hits := []store.SearchHit{}
	for rows.Next() {
		h, err := sqlrow.ScanSearchHit(rows)
		if err != nil {
			return nil, err
		}
		hits = append(hits, h)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	stmt := fmt.Sprintf(sqlrow.SelectSearchContext, "?", "?", "?")
	err = sqlrow.AddContext(hits, context, func(id string, from, to int64) (sqlrow.Rows, func(), error) {
		rows, err := db.r.QueryContext(ctx, stmt, id, from, to)
		if err != nil {
			return nil, nil, err
		}
		return rows, func() { rows.Close() }, nil
	})
	return hits, err
}

// matchExpr is the terms as an FTS5 query: each a phrase of its tokens
// (letters and digits only, so quoting needs no escapes), a prefix one
// followed by *.
func matchExpr(terms []store.SearchTerm) string {
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(`"` + strings.Join(t.Tokens, " ") + `"`)
		if t.Prefix {
			b.WriteByte('*')
		}
	}
	return b.String()
}
