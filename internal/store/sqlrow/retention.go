package sqlrow

import (
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// The queries of retention (store.Pruner), the same in both SQL dialects
// but for their placeholders and the name of a blob's length function.

// PerCommand is a table holding rows of one command each, which retention
// removes before the command itself.
type PerCommand struct {
	Table string
	Key   string // the column after command_id in the table's key, which orders its rows
	Data  string // the column whose length counts as bytes removed; "" for none
	// Index is whether Data's bytes are the search index's
	// (store.Removed.IndexBytes) rather than output or timing.
	Index bool
	// PerRow is how many of the table's rows count as one row of a
	// removal step's bound (0 is 1): a block of the search index is a
	// few hundred bytes where an output row is up to 64 KiB, and a step
	// of 64 blocks would take a command of 30,000 lines 60 steps.
	PerRow int
}

// StepRows is how many of t's rows a step with room for n more rows may
// remove.
func (t PerCommand) StepRows(n int) int { return n * max(t.PerRow, 1) }

// Counted is how many rows of a step's bound removing n of t's rows uses.
func (t PerCommand) Counted(n int) int { per := max(t.PerRow, 1); return (n + per - 1) / per }

// AddBytes adds bytes of t's removed Data to the counter of r they count in.
func (t PerCommand) AddBytes(r *store.Removed, bytes int64) {
	if t.Index {
		r.IndexBytes += bytes
	} else {
		r.Bytes += bytes
	}
}

// PerCommandTables are the tables RemoveStep empties of a command, in
// order. A table added to keep more of a command's rows (an index of its
// output) must be listed here, or retention leaves its rows behind.
var PerCommandTables = []PerCommand{
	{Table: "output", Key: "off", Data: "data"},
	{Table: "timing", Key: "seq", Data: "data"},
	{Table: "search_block", Key: "n", Data: "text", Index: true, PerRow: 8},
	{Table: "search_cursor", Key: "command_id"},
}

// SelectFinished reads up to param(2) finished commands created and ended
// before param(1), oldest created first: a walk of the creation index from
// its start, which meets only the commands created before the cutoff.
func SelectFinished(param func(int) string) string {
	return `SELECT id, agent_id, created_at, ended_at, output_bytes FROM commands
WHERE state NOT IN ` + liveStates + ` AND created_at < ` + param(1) + ` AND ended_at < ` + param(1) + `
ORDER BY created_at, id LIMIT ` + param(2)
}

// SelectState is a command's state.
func SelectState(param func(int) string) string {
	return "SELECT state FROM commands WHERE id = " + param(1)
}

// DeleteRows removes up to param(2) of t's rows of command param(1),
// first in key order, returning each one's bytes.
func DeleteRows(t PerCommand, length string, param func(int) string) string {
	bytes := "0"
	if t.Data != "" {
		bytes = length + "(" + t.Data + ")"
	}
	return "DELETE FROM " + t.Table + " WHERE command_id = " + param(1) + " AND " + t.Key + " IN (SELECT " + t.Key +
		" FROM " + t.Table + " WHERE command_id = " + param(1) + " ORDER BY " + t.Key + " LIMIT " + param(2) + ") RETURNING " + bytes
}

// DeleteFinished removes command param(1) if it is finished.
func DeleteFinished(param func(int) string) string {
	return "DELETE FROM commands WHERE id = " + param(1) + " AND state NOT IN " + liveStates
}

// PruneEvents removes up to param(2) events stored before param(1),
// oldest first, never the newest.
func PruneEvents(param func(int) string) string {
	return `DELETE FROM events WHERE seq IN (SELECT seq FROM events
WHERE at < ` + param(1) + ` AND seq < (SELECT max(seq) FROM events) ORDER BY seq LIMIT ` + param(2) + `)`
}

// IsLive reports whether a stored state is queued or running.
func IsLive(state string) bool {
	return state == string(wire.StateQueued) || state == string(wire.StateRunning)
}
