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
	// insertSearchBlocks begins the insert of blocks, as many rows of
	// (command_id, n, off, offs, text) as one statement holds
	// (blocksPerInsert). FTS5 flushes what it holds in memory to a new
	// segment at every statement's savepoint, so a statement per row made
	// a segment per row and then merged them; search_fts is filled by one
	// statement after them.
	insertSearchBlocks = "INSERT INTO search_block (command_id, n, off, offs, text) VALUES "
	blocksPerInsert    = 1000
	// selectIndexed is whether a command is stored, and the number of the
	// next line its cursor wants.
	selectIndexed = `SELECT (SELECT count(*) FROM commands WHERE id = ?1),
coalesce((SELECT n FROM search_cursor WHERE command_id = ?1), 0)`
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
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM search_block").Scan(&last); err != nil {
		return err
	}
	indexed, err := tx.PrepareContext(ctx, selectIndexed)
	if err != nil {
		return err
	}
	defer indexed.Close()
	upsert := sqlrow.UpsertSearchCursor(func(i int) string { return fmt.Sprintf("?%d", i) })
	var args []any
	for _, u := range us {
		c := u.Cursor
		var n int
		var at int64
		if err := indexed.QueryRowContext(ctx, c.CommandID).Scan(&n, &at); err != nil {
			return err
		}
		if n == 0 {
			continue // deleted meanwhile
		}
		for _, b := range store.Blocks(store.LinesFrom(u.Lines, at)) {
			args = append(args, c.CommandID, b.N, b.Off, b.Offs, b.Text)
		}
		if _, err := tx.ExecContext(ctx, upsert, c.CommandID, c.Off, c.Line, c.Done); err != nil {
			return err
		}
	}
	for len(args) > 0 {
		n := min(len(args)/5, blocksPerInsert)
		q := insertSearchBlocks + strings.Repeat("(?, ?, ?, ?, ?), ", n-1) + "(?, ?, ?, ?, ?)"
		if _, err := tx.ExecContext(ctx, q, args[:5*n]...); err != nil {
			return err
		}
		args = args[5*n:]
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO search_fts (rowid, text) SELECT id, text FROM search_block WHERE id > ?", last)
	return err
}

// DeleteIndex removes the commands' blocks (the trigger takes them out of
// the FTS index) and cursors.
func (db *DB) DeleteIndex(ctx context.Context, ids []string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			for _, q := range []string{sqlrow.DeleteSearchBlocks, sqlrow.DeleteSearchCursor} {
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
// in a query is FTS5 syntax) and walks the candidate blocks newest first
// (sqlrow.SearchBlocks), so a common word costs the first page of its
// matches, not all of them.
func (db *DB) Search(ctx context.Context, q store.SearchQuery) ([]store.SearchHit, error) {
	if len(q.Terms) == 0 {
		return nil, fmt.Errorf("store %s: search: %w: no terms", db.path, store.ErrBadQuery)
	}
	hits, err := sqlrow.SearchBlocks(q, func(terms []store.SearchTerm, upTo int64, limit int) (sqlrow.Rows, func(), error) {
		query, args := searchPage(q, terms, upTo, limit)
		rows, err := db.r.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, nil, err
		}
		return rows, func() { rows.Close() }, nil
	})
	if err == nil {
		err = db.addContext(ctx, hits, q.Context)
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: search: %w", db.path, err)
	}
	return hits, nil
}

// searchPage is the query of a sqlrow.SearchPage: the blocks FTS5 matches
// with terms, or with none the newest blocks, walked by their row ids.
func searchPage(q store.SearchQuery, terms []store.SearchTerm, upTo int64, limit int) (string, []any) {
	d := sqlrow.SearchDialect{IDCol: "b.id", Param: func(i int) string { return fmt.Sprintf("?%d", i) },
		AgentsIn: func(p string) string { return "(SELECT value FROM json_each(" + p + "))" }}
	if terms == nil {
		filter, args := sqlrow.SearchFilter(q, upTo, limit, d, 3)
		return "SELECT " + sqlrow.SearchColumns + " FROM search_block b JOIN commands c ON c.id = b.command_id WHERE b.id >= " +
			sqlrow.NewestBlocks("?1", "?2") + filter, append([]any{upTo, limit}, args...)
	}
	d.IDCol = "search_fts.rowid"
	filter, args := sqlrow.SearchFilter(q, upTo, limit, d, 2)
	return "SELECT " + sqlrow.SearchColumns + ` FROM search_fts
JOIN search_block b ON b.id = search_fts.rowid JOIN commands c ON c.id = b.command_id
WHERE search_fts MATCH ?1` + filter, append([]any{matchExpr(terms)}, args...)
}

func (db *DB) addContext(ctx context.Context, hits []store.SearchHit, context int) error {
	stmt := fmt.Sprintf(sqlrow.SelectSearchContext, "?", "?", "?")
	return sqlrow.AddContext(hits, context, func(id string, from, to int64) (sqlrow.Rows, func(), error) {
		rows, err := db.r.QueryContext(ctx, stmt, id, from, to)
		if err != nil {
			return nil, nil, err
		}
		return rows, func() { rows.Close() }, nil
	})
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
