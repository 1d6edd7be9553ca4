package sqlite

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

var agentColumns = []string{
	"id", "name", "labels", "hostname", "os", "arch", "version",
	"max_concurrent", "status", "running", "last_seen", "no_input",
}

func agentArgs(a *wire.Agent) []any {
	return []any{
		a.ID, a.Name, jsonColumn(a.Labels), a.Hostname, a.OS, a.Arch, a.Version,
		a.MaxConcurrent, string(a.Status), a.Running, nanos(a.LastSeen), a.NoInput,
	}
}

func scanAgent(s scanner) (wire.Agent, error) {
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
	a.LastSeen = fromNanos(lastSeen)
	if err := parseJSONColumn(labels, &a.Labels); err != nil {
		return a, fmt.Errorf("agent %s labels: %w", a.ID, err)
	}
	return a, nil
}

var commandColumns = []string{
	"id", "agent_id", "agent_name", "argv", "shell", "cwd", "env",
	"term_cols", "term_rows", "timeout_ms", "session", "state", "exit_code",
	"signal", "reason", "requested_by", "created_at", "started_at", "ended_at",
	"duration_ms", "output_bytes", "lost_bytes",
}

func commandArgs(c *wire.Command) []any {
	return []any{
		c.ID, c.AgentID, c.AgentName, jsonColumn(c.Argv), c.Shell, c.Cwd, jsonColumn(c.Env),
		c.Cols, c.Rows, c.TimeoutMS, c.Session, string(c.State), nullInt(c.ExitCode),
		c.Signal, c.Reason, c.RequestedBy, nanos(c.CreatedAt), nanos(c.StartedAt), nanos(c.EndedAt),
		c.DurationMS, c.OutputBytes, c.LostBytes,
	}
}

// scanCommand reads commandColumns and then any extra columns into extra.
func scanCommand(s scanner, extra ...any) (wire.Command, error) {
	var (
		c                       wire.Command
		argv, env               sql.NullString
		exitCode                sql.NullInt64
		created, started, ended int64
	)
	dest := append([]any{
		&c.ID, &c.AgentID, &c.AgentName, &argv, &c.Shell, &c.Cwd, &env,
		&c.Cols, &c.Rows, &c.TimeoutMS, &c.Session, (*string)(&c.State), &exitCode,
		&c.Signal, &c.Reason, &c.RequestedBy, &created, &started, &ended,
		&c.DurationMS, &c.OutputBytes, &c.LostBytes,
	}, extra...)
	if err := s.Scan(dest...); err != nil {
		return c, err
	}
	if exitCode.Valid {
		code := int(exitCode.Int64)
		c.ExitCode = &code
	}
	c.CreatedAt, c.StartedAt, c.EndedAt = fromNanos(created), fromNanos(started), fromNanos(ended)
	if err := parseJSONColumn(argv, &c.Argv); err != nil {
		return c, fmt.Errorf("command %s argv: %w", c.ID, err)
	}
	if err := parseJSONColumn(env, &c.Env); err != nil {
		return c, fmt.Errorf("command %s env: %w", c.ID, err)
	}
	return c, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// columnList qualifies columns with a table alias, for queries that join.
func columnList(alias string, cols []string) string {
	return alias + "." + strings.Join(cols, ", "+alias+".")
}

// upsertSQL inserts a row or, if its key (the first column) exists,
// overwrites every other column: the relay always writes whole rows. Unlike
// INSERT OR REPLACE it updates in place rather than delete and reinsert,
// which would touch every index.
func upsertSQL(table string, cols []string) string {
	set := make([]string, 0, len(cols)-1)
	for _, c := range cols[1:] {
		set = append(set, c+" = excluded."+c)
	}
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s",
		table, strings.Join(cols, ", "), placeholders(len(cols)), cols[0], strings.Join(set, ", "))
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// nanos is t as stored: unix nanoseconds, the zero time as 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
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

// jsonColumn is a list or map as stored: JSON text, or NULL when empty so
// that nil and empty read back alike, as nil, just as the wire's omitempty
// treats them.
func jsonColumn[T ~[]string | ~map[string]string](v T) any {
	if len(v) == 0 {
		return nil
	}
	b, _ := json.Marshal(v) // strings always marshal
	return string(b)
}

func parseJSONColumn[T any](s sql.NullString, dst *T) error {
	if !s.Valid {
		return nil
	}
	return json.Unmarshal([]byte(s.String), dst)
}
