package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
)

var _ store.Search = (*Store)(nil)

const (
	insertSearchLines = `INSERT INTO search_line (command_id, n, off, text, tsv)
SELECT id, n, off, t, to_tsvector('simple', tk)
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[]) AS u(id, n, off, t, tk)
ON CONFLICT DO NOTHING`
	upsertSearchCursor = `INSERT INTO search_cursor (command_id, off, n, done) VALUES ($1, $2, $3, $4)
ON CONFLICT (command_id) DO UPDATE SET off = excluded.off, n = excluded.n, done = excluded.done`
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

// Index writes the updates in one transaction, each command's lines in
// one statement.
func (s *Store) Index(ctx context.Context, us []store.IndexUpdate) error {
	err := pgx.BeginFunc(ctx, s.w, func(tx pgx.Tx) error {
		for _, u := range us {
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
	if len(u.Lines) > 0 {
		ids, ns, offs := make([]string, len(u.Lines)), make([]int64, len(u.Lines)), make([]int64, len(u.Lines))
		texts, toks := make([]string, len(u.Lines)), make([]string, len(u.Lines))
		for i, l := range u.Lines {
			ids[i], ns[i], offs[i] = id, l.N, l.Off
			texts[i], toks[i] = clean(l.Text), strings.Join(store.Tokens(l.Text), " ")
		}
		if _, err := tx.Exec(ctx, insertSearchLines, ids, ns, offs, texts, toks); err != nil {
			return fmt.Errorf("lines of %s: %w", id, err)
		}
	}
	_, err := tx.Exec(ctx, upsertSearchCursor, id, c.Off, c.Line, c.Done)
	return err
}

// DeleteIndex removes the commands' lines and cursors.
func (s *Store) DeleteIndex(ctx context.Context, ids []string) error {
	err := pgx.BeginFunc(ctx, s.w, func(tx pgx.Tx) error {
		for _, id := range ids {
			for _, q := range []string{sqlrow.DeleteSearchLines, sqlrow.DeleteSearchCursor} {
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

// Search matches the terms through the GIN index of tsv, then sorts the
// matches newest first.
func (s *Store) Search(ctx context.Context, q store.SearchQuery) ([]store.SearchHit, error) {
	if len(q.Terms) == 0 {
		return nil, fmt.Errorf("store %s: search: %w: no terms", s.name, store.ErrBadQuery)
	}
	filter, args := sqlrow.SearchFilter(q, "l.id", dollar, 2,
		func(p string) string { return "(SELECT jsonb_array_elements_text(" + p + "::jsonb))" })
	query := "SELECT " + sqlrow.SearchColumns + ` FROM search_line l JOIN commands c ON c.id = l.command_id
WHERE l.tsv @@ to_tsquery('simple', $1)` + filter
	hits, err := s.search(ctx, query, append([]any{tsQuery(q.Terms)}, args...), q.Context)
	if err != nil {
		return nil, fmt.Errorf("store %s: search: %w", s.name, err)
	}
	return hits, nil
}

func (s *Store) search(ctx context.Context, query string, args []any, context int) ([]store.SearchHit, error) {
	rows, _ := s.r.Query(ctx, query, args...) // collect reports its error
	hits, err := collect(rows, func(r sqlrow.Scanner) (store.SearchHit, error) { return sqlrow.ScanSearchHit(r) })
	if err != nil {
		return nil, err
	}
	stmt := fmt.Sprintf(sqlrow.SelectSearchContext, "$1", "$2", "$3")
	err = sqlrow.AddContext(hits, context, func(id string, from, to int64) (sqlrow.Rows, func(), error) {
		rows, err := s.r.Query(ctx, stmt, id, from, to)
		if err != nil {
			return nil, nil, err
		}
		return rows, rows.Close, nil
	})
	return hits, err
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
