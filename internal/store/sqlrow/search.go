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
	// SelectSearchContext is a command's lines numbered [$2, $3].
	SelectSearchContext = "SELECT n, text FROM search_line WHERE command_id = %s AND n BETWEEN %s AND %s ORDER BY n"
	// SelectCommandExists finds a command by id.
	SelectCommandExists = "SELECT count(*) FROM commands WHERE id = %s"
	DeleteSearchLines   = "DELETE FROM search_line WHERE command_id = %s"
	DeleteSearchCursor  = "DELETE FROM search_cursor WHERE command_id = %s"
)

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

// SearchFilter is the WHERE clause after the text match: paging, time
// and agents, numbering its parameters from next on.
func SearchFilter(q store.SearchQuery, idCol string, param func(int) string, next int, agentsIn func(p string) string) (string, []any) {
	var b strings.Builder
	var args []any
	add := func(format string, v any) {
		fmt.Fprintf(&b, format, param(next))
		next++
		args = append(args, v)
	}
	if q.Before > 0 {
		add(" AND "+idCol+" < %s", q.Before)
	}
	if !q.Since.IsZero() {
		add(" AND c.created_at >= %s", Nanos(q.Since))
	}
	if q.AgentIDs != nil {
		b.WriteString(" AND c.agent_id IN ")
		b.WriteString(agentsIn(param(next)))
		next++
		args = append(args, JSON(q.AgentIDs))
		if len(q.AgentIDs) == 0 {
			args[len(args)-1] = "[]"
		}
	}
	fmt.Fprintf(&b, " ORDER BY %s DESC LIMIT %s", idCol, param(next))
	args = append(args, store.PageSize(q.Limit))
	return b.String(), args
}

// ScanSearchHit reads a row of SearchColumns.
func ScanSearchHit(rows Scanner) (store.SearchHit, error) {
	var h store.SearchHit
	var created int64
	var argv sql.NullString
	var spec wire.CommandSpec
	err := rows.Scan(&h.Cursor, &h.CommandID, &h.Line, &h.Offset, &h.Text, &h.AgentID, &h.AgentName, &created, &argv, &spec.Shell)
	if err != nil {
		return h, err
	}
	if err := parseJSON(argv, &spec.Argv); err != nil {
		return h, fmt.Errorf("command %s argv: %w", h.CommandID, err)
	}
	h.CreatedAt, h.Command = FromNanos(created), spec.Line()
	return h, nil
}

// SearchColumns are ScanSearchHit's, l being search_line and c commands.
const SearchColumns = "l.id, l.command_id, l.n, l.off, l.text, c.agent_id, c.agent_name, c.created_at, c.argv, c.shell"

// AddContext gives each hit up to n lines before and after it, which
// query (SelectSearchContext with the command's id and the first and last
// line) returns in order; done closes them.
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
	rows, done, err := query(h.CommandID, max(h.Line-int64(n), 0), h.Line+int64(n))
	if err != nil {
		return err
	}
	defer done()
	for rows.Next() {
		var ln int64
		var text string
		if err := rows.Scan(&ln, &text); err != nil {
			return err
		}
		switch {
		case ln < h.Line:
			h.Before = append(h.Before, text)
		case ln > h.Line:
			h.After = append(h.After, text)
		}
	}
	return rows.Err()
}
