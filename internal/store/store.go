// Package store owns Switchboard's persistent history: agents, commands
// with their full lifecycle, every byte of terminal output, and the event
// log. It defines the Store boundary the relay writes through and what its
// implementations share; the SQLite one (the embedded default) lives in
// internal/store/sqlite, the PostgreSQL one in internal/store/postgres, and
// internal/store/storetest is the test suite both pass.
package store

import (
	"context"
	"errors"
	"time"

	"switchboard/internal/wire"
)

// ErrNotFound is returned when a named command or agent does not exist.
var ErrNotFound = errors.New("not found")

// Store persists the relay's history. Apply is called from one goroutine
// at a time (the relay's persister), except for batches holding only
// audit entries (token administration, the SSH server), which may come
// beside it; the read methods may be called concurrently with it.
type Store interface {
	// Load returns what the relay needs to resume after a restart.
	Load(ctx context.Context) (State, error)
	// Apply writes a batch in one transaction: all of it or none.
	Apply(ctx context.Context, b *Batch) error
	// ReadOutput returns up to max bytes of a command's output starting at
	// from. start is the offset of the first byte returned; it is greater
	// than from only when bytes were lost (a gap). An empty result with
	// nil error means nothing is stored at or after from.
	ReadOutput(ctx context.Context, commandID string, from int64, max int) (data []byte, start int64, err error)
	// ReadTiming returns up to max rows (at most TimingPage) of a
	// command's timing, in order, from the row holding record from on.
	// Read them with EachRecord. None means none stored from there.
	ReadTiming(ctx context.Context, commandID string, from uint64, max int) ([]TimingRow, error)
	// History returns commands newest first.
	History(ctx context.Context, q HistoryQuery) ([]wire.Command, error)
	// Close flushes and closes the database.
	Close() error
}

// OutputEnds is implemented by stores that relays share: where a
// command's stored output ends, for a relay taking the command over.
type OutputEnds interface {
	OutputEnd(ctx context.Context, commandID string) (int64, error)
}

// State is the persisted state the relay starts from.
type State struct {
	Agents []wire.Agent // every agent ever registered, status as last stored
	// Commands holds every command that is queued or running, oldest first,
	// each with OutputBytes set to the end of its stored output.
	Commands []wire.Command
	Recent   []wire.Command // the most recent final commands, newest first
	EventSeq uint64         // the highest event sequence number stored
}

// Batch is one transaction's worth of writes, applied in this order:
// agents, forgotten agents, commands, output, timing, events, audit.
type Batch struct {
	Agents []wire.Agent // upserted by id
	// ForgetAgents are ids of agents to delete, with the bindings their
	// first connection made (a binding made with its token keeps the
	// agent's name, and waits for a new id). Their commands stay.
	ForgetAgents []string
	Commands     []wire.Command // upserted by id (the full row each time)
	Output       []Chunk
	Timing       []TimingRow // a row already stored at a command's Seq is kept
	Events       []Event
	Audit        []wire.AuditEntry
}

// Empty reports whether the batch holds nothing to write.
func (b *Batch) Empty() bool {
	return len(b.Agents)+len(b.ForgetAgents)+len(b.Commands)+len(b.Output)+len(b.Timing)+len(b.Events)+len(b.Audit) == 0
}

// Reset empties the batch, keeping its capacity.
func (b *Batch) Reset() {
	clear(b.Output) // drop references to output buffers
	b.Agents, b.ForgetAgents, b.Commands = b.Agents[:0], b.ForgetAgents[:0], b.Commands[:0]
	b.Output, b.Events, b.Audit = b.Output[:0], b.Events[:0], b.Audit[:0]
	clear(b.Timing)
	b.Timing = b.Timing[:0]
}

// Chunk is a run of a command's output starting at Offset.
type Chunk struct {
	CommandID string
	Offset    int64
	Data      []byte
}

// Event is one entry of the event log.
type Event struct {
	Seq     uint64
	At      time.Time
	Kind    string // e.g. "agent", "command", "output.dropped"
	Subject string // agent or command id
	Data    []byte // JSON
}

// HistoryQuery selects commands for History.
type HistoryQuery struct {
	AgentID string // empty: all agents
	// AgentIDs, when not nil, keeps only these agents' commands (an empty
	// list keeps none): what a scoped token may see.
	AgentIDs []string
	Limit    int    // 0 means 50
	ID       string // when set, only this command
}

// Page sizes of History and Audit (the protocol's), and how many final
// commands State.Recent holds.
const (
	PageDefault = 50
	PageMax     = 1000
	RecentLimit = 100
)

// PageSize is how many rows a query asking for n returns at most:
// PageDefault when n is not positive, never more than PageMax.
func PageSize(n int) int {
	if n <= 0 {
		return PageDefault
	}
	return min(n, PageMax)
}
