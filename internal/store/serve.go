package store

import "errors"

// ErrServed is returned when another relay serves the store. A relay
// outside a cluster keeps its live state (agents, running commands, the
// queue, the event counter) in its own memory and writes it through: a
// second one on the same store would hold another copy, mark the first
// one's running commands lost after --lost-after (their agent is not
// connected to it) and queue work the first one never dispatches. So a
// relay takes its store's serving lock (sqlite.LockServing,
// postgres.LockServing) before it opens the store, and holds it while it
// serves; the lock goes with the process (a relay killed with SIGKILL
// leaves none behind), so another relay may take over at once.
var ErrServed = errors.New("another relay is serving this store")
