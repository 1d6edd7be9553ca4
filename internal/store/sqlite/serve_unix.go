//go:build unix

package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"switchboard/internal/store"
)

var _ store.ServeLock = (*DB)(nil)

// LockServing takes an exclusive flock(2) on the database file itself,
// held by a descriptor of its own until release. flock locks are apart
// from the POSIX byte-range locks SQLite takes on the same file, so the
// two never meet; the kernel drops the lock when the process ends, however
// it ends. The file never changes hands while open, so lost is never
// called. (A database on a network file system may not honour flock: a
// standby relay on another host must not share one SQLite file.)
func (db *DB) LockServing(ctx context.Context, lost func(error)) (func(), error) {
	f, err := os.Open(db.path)
	if err != nil {
		return nil, fmt.Errorf("lock %s for serving: %w", db.path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", db.path, store.ErrServed)
		}
		return nil, fmt.Errorf("lock %s for serving: %w", db.path, err)
	}
	return func() { f.Close() }, nil
}
