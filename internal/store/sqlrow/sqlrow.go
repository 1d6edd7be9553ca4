// Package sqlrow owns how agents and commands are laid out as rows, for the
// SQL stores (SQLite and PostgreSQL) that share the layout: each table's
// columns in order, the values bound for them, how a row scans back, and
// the encodings of times and of lists and maps. It also owns what the two
// share of search (searchwalk.go: walking the index's blocks newest first,
// and the plan for prefix terms) and of retention's statements.
//
// Times are unix nanoseconds, read back in UTC, so they round trip exactly
// between the years 1678 and 2262; 0 stands for the zero time (which makes
// the instant of the Unix epoch itself read back as zero). Lists and maps
// are JSON text, NULL when empty, so nil and empty read back alike, as the
// wire's omitempty treats them.
package sqlrow

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"switchboard/internal/wire"
)

// Each table's columns are listed once, in the order its args function
// binds them and its scan function reads them; keep the three together.

// AgentColumns are the agents table's columns, the key first.
var AgentColumns = []string{
	"id", "name", "labels", "hostname", "os", "arch", "version",
	"max_concurrent", "status", "running", "last_seen", "no_input",
}

// AgentArgs are a's values for AgentColumns.
func AgentArgs(a *wire.Agent) []any {
	return []any{
		a.ID, a.Name, JSON(a.Labels), a.Hostname, a.OS, a.Arch, a.Version,
		a.MaxConcurrent, string(a.Status), a.Running, Nanos(a.LastSeen), a.NoInput,
	}
}

// ScanAgent reads a row of AgentColumns.
func ScanAgent(s Scanner) (wire.Agent, error) {
	var (
		a        wire.Agent
		labels   sql.NullString
		lastSeen int64
	)
	err := s.Scan(&a.ID, &a.Name, &labels, &a.Hostname, &a.OS, &a.Arch, &a.Version,
		&a.MaxConcurrent, (*string)(&a.Status), &a.Running, &lastSeen, &a.NoInput)
	if err != nil {
		return a, err
	}
	a.LastSeen = FromNanos(lastSeen)
	if err := parseJSON(labels, &a.Labels); err != nil {
		return a, fmt.Errorf("agent %s labels: %w", a.ID, err)
	}
	return a, nil
}

// CommandColumns are the commands table's columns, the key first.
var CommandColumns = []string{
	"id", "agent_id", "agent_name", "argv", "shell", "cwd", "env",
	"term_cols", "term_rows", "timeout_ms", "session", "state", "exit_code",
	"signal", "reason", "requested_by", "created_at", "started_at", "ended_at",
	"duration_ms", "output_bytes", "lost_bytes",
	"attention", "attention_reason", "attention_since", "title",
}

// CommandArgs are c's values for CommandColumns.
func CommandArgs(c *wire.Command) []any {
	return []any{
		c.ID, c.AgentID, c.AgentName, JSON(c.Argv), c.Shell, c.Cwd, JSON(c.Env),
		c.Cols, c.Rows, c.TimeoutMS, c.Session, string(c.State), nullInt(c.ExitCode),
		c.Signal, c.Reason, c.RequestedBy, Nanos(c.CreatedAt), Nanos(c.StartedAt), Nanos(c.EndedAt),
		c.DurationMS, c.OutputBytes, c.LostBytes,
		string(c.Attention), c.AttentionReason, Nanos(c.AttentionSince), c.Title,
	}
}

// ScanCommand reads a row of CommandColumns and then any extra columns
// into extra.
func ScanCommand(s Scanner, extra ...any) (wire.Command, error) {
	var (
		c                       wire.Command
		argv, env               sql.NullString
		exitCode                sql.NullInt64
		created, started, ended int64
		attnSince               int64
	)
	dest := append([]any{
		&c.ID, &c.AgentID, &c.AgentName, &argv, &c.Shell, &c.Cwd, &env,
		&c.Cols, &c.Rows, &c.TimeoutMS, &c.Session, (*string)(&c.State), &exitCode,
		&c.Signal, &c.Reason, &c.RequestedBy, &created, &started, &ended,
		&c.DurationMS, &c.OutputBytes, &c.LostBytes,
		(*string)(&c.Attention), &c.AttentionReason, &attnSince, &c.Title,
	}, extra...)
	if err := s.Scan(dest...); err != nil {
		return c, err
	}
	if exitCode.Valid {
		code := int(exitCode.Int64)
		c.ExitCode = &code
	}
	c.CreatedAt, c.StartedAt, c.EndedAt = FromNanos(created), FromNanos(started), FromNanos(ended)
	c.AttentionSince = FromNanos(attnSince)
	if err := parseJSON(argv, &c.Argv); err != nil {
		return c, fmt.Errorf("command %s argv: %w", c.ID, err)
	}
	if err := parseJSON(env, &c.Env); err != nil {
		return c, fmt.Errorf("command %s env: %w", c.ID, err)
	}
	return c, nil
}

// Scanner is a row of either driver: *sql.Row, *sql.Rows, pgx.Row, pgx.Rows.
type Scanner interface{ Scan(dest ...any) error }

// List is cols joined by commas, each qualified with alias when it is set
// (for queries that join).
func List(alias string, cols []string) string {
	if alias == "" {
		return strings.Join(cols, ", ")
	}
	return alias + "." + strings.Join(cols, ", "+alias+".")
}

// Upsert inserts a row or, if its key (the first column) exists,
// overwrites every other column: the relay always writes whole rows. It
// updates in place, where a delete and reinsert would touch every index.
// param(i) is the driver's placeholder for the i-th argument, from 1.
func Upsert(table string, cols []string, param func(i int) string) string {
	set := make([]string, 0, len(cols)-1)
	for _, c := range cols[1:] {
		set = append(set, c+" = excluded."+c)
	}
	params := make([]string, len(cols))
	for i := range params {
		params[i] = param(i + 1)
	}
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s",
		table, strings.Join(cols, ", "), strings.Join(params, ", "), cols[0], strings.Join(set, ", "))
}

// Nanos is t as stored: unix nanoseconds, the zero time as 0.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromNanos is the time stored as n.
func FromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func nullInt(p *int) any {
	if p == nil {
		return nil
	}
	return int64(*p)
}

// JSON is a list or map as stored: JSON text, or NULL when empty.
func JSON[T ~[]string | ~map[string]string](v T) any {
	if len(v) == 0 {
		return nil
	}
	b, _ := json.Marshal(v) // strings always marshal
	return string(b)
}

func parseJSON[T any](s sql.NullString, dst *T) error {
	if !s.Valid {
		return nil
	}
	return json.Unmarshal([]byte(s.String), dst)
}
