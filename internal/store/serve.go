package store

import (
	"context"
	"errors"
)

// ErrServed is returned by ServeLock.LockServing when another relay
// serves the store.
var ErrServed = errors.New("another relay is serving this store")

// ServeLock is implemented by stores that admit one serving relay at a
// time. A relay outside a cluster keeps its live state (agents, running
// commands, the queue, the event counter) in its own memory and writes it
// through: a second one on the same store would hold another copy, mark
// the first one's running commands lost after --lost-after (their agent is
// not connected to it) and queue work the first one never dispatches. So
// a relay takes this lock before it loads the store and holds it while it
// serves; the lock goes with the process (a relay killed with SIGKILL
// leaves none behind), so another relay may take over at once.
type ServeLock interface {
	// LockServing takes the lock or fails with ErrServed (wrapped, with
	// where). lost is called, once and from another goroutine, if the lock
	// was lost and another relay took it meanwhile (PostgreSQL: the
	// connection holding it was cut and could not take it back): the
	// relay must stop serving. release gives the lock up.
	LockServing(ctx context.Context, lost func(error)) (release func(), err error)
}
