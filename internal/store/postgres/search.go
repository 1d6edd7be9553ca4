package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
)

var _ store.Search = (*Store)(nil)

const (
	insertSearchBlocks = `INSERT INTO search_block (command_id, n, off, offs, text, tsv)
SELECT $1, n, off, offs, t, to_tsvector('simple', tk)
FROM unnest($2::bigint[], $3::bigint[], $4::bytea[], $5::text[], $6::text[]) AS u(n, off, offs, t, tk)`
	// lockSearchCursor makes a command's cursor if it has none and takes
	// it, so that two relays' indexers of one command take turns and the
	// second starts where the first left off.
	lockSearchCursor   = `INSERT INTO search_cursor (command_id, off, n, done) VALUES ($1, 0, 0, false) ON CONFLICT DO NOTHING`
	selectSearchCursor = `SELECT n FROM search_cursor WHERE command_id = $1 FOR UPDATE`
)

// IndexBacklog returns the cursors of the commands not indexed to their
// end, scanning the commands once (a relay's start).
func (s *Store) IndexBacklog(ctx context.Context) ([]store.IndexCursor, error) {
	rows, err := s.r.Query(ctx, sqlrow.SelectIndexBacklog)
	if err != nil {
		return nil, fmt.Errorf("store %s: index backlog: %w", s.name, err)
	}
	defer rows.Close()
	cs, err := sqlrow.ScanIndexBacklog(rows)
	if err != nil {
		return nil, fmt.Errorf("store %s: index backlog: %w", s.name, err)
	}
	return cs, nil
}

// Index writes the updates in one transaction, each command's blocks in
// one statement. It takes the commands' cursors in the order of their ids,
// so that two relays' indexers of the same commands wait for each other
// rather than deadlock.
func (s *Store) Index(ctx context.Context, us []store.IndexUpdate) error {
	sorted := slices.SortedFunc(slices.Values(us), func(a, b store.IndexUpdate) int {
		return strings.Compare(a.Cursor.CommandID, b.Cursor.CommandID)
	})
	err := pgx.BeginFunc(ctx, s.w, func(tx pgx.Tx) error {
		for _, u := range sorted {
			if err := indexOne(ctx, tx, u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store %s: index %d commands' output: %w%s", s.name, len(us), err, hint(err))
	}
	return nil
}

func indexOne(ctx context.Context, tx pgx.Tx, u store.IndexUpdate) error {
	c := u.Cursor
	id := clean(c.CommandID)
	var n int
	if err := tx.QueryRow(ctx, fmt.Sprintf(sqlrow.SelectCommandExists, "$1"), id).Scan(&n); err != nil || n == 0 {
		return err // none: deleted meanwhile
	}
	var at int64
	if _, err := tx.Exec(ctx, lockSearchCursor, id); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, selectSearchCursor, id).Scan(&at); err != nil {
		return err
	}
	if bs := store.Blocks(store.LinesFrom(u.Lines, at)); len(bs) > 0 {
		ns, offs := make([]int64, len(bs)), make([]int64, len(bs))
		deltas, texts, toks := make([][]byte, len(bs)), make([]string, len(bs)), make([]string, len(bs))
		for i, b := range bs {
			ns[i], offs[i], deltas[i], texts[i], toks[i] = b.N, b.Off, b.Offs, clean(b.Text), strings.Join(store.Tokens(b.Text), " ")
		}
		if _, err := tx.Exec(ctx, insertSearchBlocks, id, ns, offs, deltas, texts, toks); err != nil {
			return fmt.Errorf("lines of %s: %w", id, err)
		}
	}
	_, err := tx.Exec(ctx, sqlrow.UpsertSearchCursor(dollar), id, c.Off, c.Line, c.Done)
	return err
}

// DeleteIndex removes the commands' lines and cursors.
func (s *Store) DeleteIndex(ctx context.Context, ids []string) error {
	err := pgx.BeginFunc(ctx, s.w, func(tx pgx.Tx) error {
		for _, id := range ids {
			for _, q := range []string{sqlrow.DeleteSearchBlocks, sqlrow.DeleteSearchCursor} {
				if _, err := tx.Exec(ctx, fmt.Sprintf(q, "$1"), clean(id)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store %s: delete the index of %d commands: %w", s.name, len(ids), err)
	}
	return nil
}

// Search matches the terms through the GIN index of tsv and walks the
// candidate blocks newest first (sqlrow.SearchBlocks).
func (s *Store) Search(ctx context.Context, q store.SearchQuery) ([]store.SearchHit, error) {
	if len(q.Terms) == 0 {
		return nil, fmt.Errorf("store %s: search: %w: no terms", s.name, store.ErrBadQuery)
	}
	hits, err := sqlrow.SearchBlocks(q, func(terms []store.SearchTerm, upTo int64, limit int) (sqlrow.Rows, func(), error) {
		query, args := searchPage(q, terms, upTo, limit)
		rows, err := s.r.Query(ctx, query, args...)
		if err != nil {
			return nil, nil, err
		}
		return rows, rows.Close, nil
	})
	if err == nil {
		err = s.addContext(ctx, hits, q.Context)
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: search: %w", s.name, err)
	}
	return hits, nil
}

// searchPage is the query of a sqlrow.SearchPage: the blocks whose tsv
// matches terms, or with none the newest blocks, newest first.
func searchPage(q store.SearchQuery, terms []store.SearchTerm, upTo int64, limit int) (string, []any) {
	d := sqlrow.SearchDialect{IDCol: "b.id", Param: dollar,
		AgentsIn: func(p string) string { return "(SELECT jsonb_array_elements_text(" + p + "::jsonb))" }}
	from := "SELECT " + sqlrow.SearchColumns + " FROM search_block b JOIN commands c ON c.id = b.command_id"
	if terms == nil {
		filter, args := sqlrow.SearchFilter(q, upTo, limit, d, 3)
		return from + " WHERE b.id >= " + sqlrow.NewestBlocks("$1", "$2") + filter, append([]any{upTo, limit}, args...)
	}
	filter, args := sqlrow.SearchFilter(q, upTo, limit, d, 2)
	return from + " WHERE b.tsv @@ to_tsquery('simple', $1)" + filter, append([]any{tsQuery(terms)}, args...)
}

func (s *Store) addContext(ctx context.Context, hits []store.SearchHit, context int) error {
	stmt := fmt.Sprintf(sqlrow.SelectSearchContext, "$1", "$2", "$3")
	return sqlrow.AddContext(hits, context, func(id string, from, to int64) (sqlrow.Rows, func(), error) {
		rows, err := s.r.Query(ctx, stmt, id, from, to)
		if err != nil {
			return nil, nil, err
		}
		return rows, rows.Close, nil
	})
}

// tsQuery is the terms as a tsquery: each a phrase of its quoted tokens
// (letters and digits only), a prefix one's last token with :*, all ANDed.
func tsQuery(terms []store.SearchTerm) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		toks := make([]string, len(t.Tokens))
		for j, tok := range t.Tokens {
			toks[j] = "'" + tok + "'"
		}
		if t.Prefix {
			toks[len(toks)-1] += ":*"
		}
		parts[i] = "(" + strings.Join(toks, " <-> ") + ")"
	}
	return strings.Join(parts, " & ")
}
