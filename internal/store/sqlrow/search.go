package sqlrow

import (
	"database/sql"
	"fmt"
	"strings"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// Search's statements both SQL stores share.
const (
	// SelectIndexBacklog is every command with output that may not be
	// indexed yet: no cursor, or one not done.
	SelectIndexBacklog = `SELECT c.id, c.state, coalesce(s.off, 0), coalesce(s.n, 0)
FROM commands c LEFT JOIN search_cursor s ON s.command_id = c.id
WHERE s.done IS NULL OR NOT s.done`
	// SelectSearchContext is a command's blocks whose first line is
	// numbered in [$2, $3].
	SelectSearchContext = "SELECT n, text FROM search_block WHERE command_id = %s AND n BETWEEN %s AND %s ORDER BY n"
	// SelectCommandExists finds a command by id.
	SelectCommandExists = "SELECT count(*) FROM commands WHERE id = %s"
	DeleteSearchBlocks  = "DELETE FROM search_block WHERE command_id = %s"
	DeleteSearchCursor  = "DELETE FROM search_cursor WHERE command_id = %s"
)

// UpsertSearchCursor stores a command's cursor (id, off, n, done), unless
// the one stored is further on: on PostgreSQL several relays' indexers may
// index one command, and a cursor must not move back over lines indexed.
func UpsertSearchCursor(param func(int) string) string {
	return "INSERT INTO search_cursor (command_id, off, n, done) VALUES (" + param(1) + ", " + param(2) + ", " + param(3) + ", " + param(4) + `)
ON CONFLICT (command_id) DO UPDATE SET off = excluded.off, n = excluded.n, done = excluded.done
WHERE excluded.off >= search_cursor.off`
}

// Rows is what both drivers' query results have.
type Rows interface {
	Next() bool
	Scan(dst ...any) error
	Err() error
}

// ScanIndexBacklog reads SelectIndexBacklog's rows; the caller closes them.
func ScanIndexBacklog(rows Rows) ([]store.IndexCursor, error) {
	var out []store.IndexCursor
	for rows.Next() {
		var c store.IndexCursor
		var state string
		if err := rows.Scan(&c.CommandID, &state, &c.Off, &c.Line); err != nil {
			return nil, err
		}
		c.Final = wire.CommandState(state).Final()
		out = append(out, c)
	}
	return out, rows.Err()
}

// SearchDialect is how a SQL store spells what SearchBlocks' queries need.
type SearchDialect struct {
	IDCol    string                // the block's row id in the query
	Param    func(int) string      // the n-th parameter
	AgentsIn func(p string) string // a list of the agent ids in JSON parameter p
}

// SearchFilter is the WHERE clause after the text match: rows up to upTo,
// time and agents, the newest limit rows first, numbering its parameters
// from next on.
func SearchFilter(q store.SearchQuery, upTo int64, limit int, d SearchDialect, next int) (string, []any) {
	var b strings.Builder
	var args []any
	add := func(format string, v any) {
		fmt.Fprintf(&b, format, d.Param(next))
		next++
		args = append(args, v)
	}
	add(" AND "+d.IDCol+" <= %s", upTo)
	if !q.Since.IsZero() {
		add(" AND c.created_at >= %s", Nanos(q.Since))
	}
	if q.AgentIDs != nil {
		b.WriteString(" AND c.agent_id IN ")
		b.WriteString(d.AgentsIn(d.Param(next)))
		next++
		args = append(args, JSON(q.AgentIDs))
		if len(q.AgentIDs) == 0 {
			args[len(args)-1] = "[]"
		}
	}
	add(" ORDER BY "+d.IDCol+" DESC LIMIT %s", limit)
	return b.String(), args
}

// NewestBlocks is the lowest row id among the limit newest blocks up to
// upTo (parameters of those names): the bound of a SearchPage without
// terms.
func NewestBlocks(upTo, limit string) string {
	return "(SELECT min(id) FROM (SELECT id FROM search_block WHERE id <= " + upTo + " ORDER BY id DESC LIMIT " + limit + ") AS newest)"
}

// SearchColumns are scanBlockHit's, b being search_block and c commands.
const SearchColumns = "b.id, b.command_id, b.n, b.off, b.offs, b.text, c.agent_id, c.agent_name, c.created_at, c.argv, c.shell"

// scanBlockHit reads a row of SearchColumns: the block's row id, the hit
// as far as its command says, and the block.
func scanBlockHit(rows Scanner) (int64, store.SearchHit, store.IndexBlock, error) {
	var id, created int64
	var h store.SearchHit
	var b store.IndexBlock
	var argv sql.NullString
	var spec wire.CommandSpec
	err := rows.Scan(&id, &h.CommandID, &b.N, &b.Off, &b.Offs, &b.Text, &h.AgentID, &h.AgentName, &created, &argv, &spec.Shell)
	if err != nil {
		return 0, h, b, err
	}
	if err := parseJSON(argv, &spec.Argv); err != nil {
		return 0, h, b, fmt.Errorf("command %s argv: %w", h.CommandID, err)
	}
	h.CreatedAt, h.Command = FromNanos(created), spec.Line()
	return id, h, b, nil
}

// AddContext gives each hit up to n lines before and after it, which
// query (SelectSearchContext with the command's id and the first and last
// line a block holding them may start at) returns in blocks, in order;
// done closes them.
func AddContext(hits []store.SearchHit, n int, query func(id string, from, to int64) (rows Rows, done func(), err error)) error {
	if n <= 0 {
		return nil
	}
	n = min(n, store.MaxSearchContext)
	for i := range hits {
		if err := addContext(&hits[i], n, query); err != nil {
			return err
		}
	}
	return nil
}

func addContext(h *store.SearchHit, n int, query func(id string, from, to int64) (Rows, func(), error)) error {
	from, to := max(h.Line-int64(n), 0), h.Line+int64(n)
	rows, done, err := query(h.CommandID, from-(store.MaxBlockLines-1), to)
	if err != nil {
		return err
	}
	defer done()
	for rows.Next() {
		var b store.IndexBlock
		if err := rows.Scan(&b.N, &b.Text); err != nil {
			return err
		}
		for i, text := range strings.Split(b.Text, "\n") {
			switch ln := b.N + int64(i); {
			case ln < from || ln > to:
			case ln < h.Line:
				h.Before = append(h.Before, text)
			case ln > h.Line:
				h.After = append(h.After, text)
			}
		}
	}
	return rows.Err()
}
