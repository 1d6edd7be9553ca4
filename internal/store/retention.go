package store

import (
	"context"
	"errors"
	"time"
)

// ErrLive is returned by Pruner.RemoveStep for a command that is queued or
// running: retention removes finished commands only.
var ErrLive = errors.New("command is queued or running")

// Pruner is what retention (relay --retain, --max-db-size) needs of a
// store. Both SQL stores implement it. Every method is one short
// transaction at most, so the persister's commits go on between calls.
type Pruner interface {
	// Finished returns up to n finished commands (any state but queued
	// and running) created and ended before before, oldest created first.
	// A zero before means whenever they ended.
	Finished(ctx context.Context, before time.Time, n int) ([]Finished, error)
	// RemoveStep removes, in one transaction, at most maxRows rows (as
	// Removed.Rows counts them) of one finished command: its output rows first, then its timing rows (and
	// any other row kept per command), and, in the step that finds none
	// left, the command itself (Removed.Done). A queued or running
	// command is left alone (ErrLive); rows of a command that is not
	// stored are removed all the same.
	RemoveStep(ctx context.Context, id string, maxRows int) (Removed, error)
	// PruneEvents removes, in one transaction, at most maxRows events
	// stored before before, oldest first, never the newest event (whose
	// number a restarted relay counts on from).
	PruneEvents(ctx context.Context, before time.Time, maxRows int) (int, error)
	// SpaceUsed is the room the store's data takes, in bytes: SQLite,
	// the pages in use (page_count - freelist_count) × page_size, which
	// shrinks when rows are removed; PostgreSQL, pg_total_relation_size
	// (indexes and TOAST included) of the tables of its schema, which
	// does not (removed rows' space is reused by later writes).
	SpaceUsed(ctx context.Context) (int64, error)
	// SpaceShrinks reports whether SpaceUsed falls as soon as rows are
	// removed (SQLite), rather than counting their space until later
	// writes reuse it (PostgreSQL).
	SpaceShrinks() bool
	// Written is how many bytes of output and timing this store has
	// stored (Apply) since it was opened: what retention subtracts from
	// the free space it knows of when the space used did not grow.
	Written() int64
	// Reclaim makes removed rows' space reusable, in one bounded step:
	// SQLite gives up to maxPages free pages back to the file system
	// (PRAGMA incremental_vacuum), and reports whether free pages remain;
	// PostgreSQL vacuums the tables rows are removed from.
	Reclaim(ctx context.Context, maxPages int) (more bool, err error)
}

// DataBytes is the bytes of output and timing b holds.
func (b *Batch) DataBytes() int64 {
	var n int64
	for _, c := range b.Output {
		n += int64(len(c.Data))
	}
	for _, t := range b.Timing {
		n += int64(len(t.Data))
	}
	return n
}

// Finished is a finished command as retention sees it.
type Finished struct {
	ID          string
	AgentID     string
	CreatedAt   time.Time
	EndedAt     time.Time
	OutputBytes int64
}

// Removed is what one RemoveStep removed.
type Removed struct {
	// Rows of every table, the command's own included, as the step's
	// bound counts them (sqlrow.PerCommand.PerRow: 64 lines of the
	// search index count as one row).
	Rows  int
	Bytes int64 // bytes of output and timing data
	// IndexBytes is the text of the search index's rows removed (its
	// full-text index besides not counted). Store.Written does not
	// count it, so it is not room that later writes of output reuse;
	// but it is space the removal gave back.
	IndexBytes int64
	Done       bool // the command and all its rows are gone
}
