//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"switchboard/internal/store"
)

// LockServing takes the serving lock of the database at path (created if
// missing, as Open would) before a relay opens it: an exclusive flock(2)
// on the file, held by a descriptor of its own until release, or
// store.ErrServed. flock locks are apart from the POSIX byte-range locks
// SQLite takes on the same file, so the two never meet; the kernel drops
// the lock when the process ends, however it ends. (A database on a
// network file system may not honour flock: a standby relay on another
// host must not share one SQLite file.)
func LockServing(path string) (release func(), err error) {
	if err := prepareFiles(path); err != nil {
		return nil, fmt.Errorf("lock %s for serving: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lock %s for serving: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", path, store.ErrServed)
		}
		return nil, fmt.Errorf("lock %s for serving: %w", path, err)
	}
	return func() { f.Close() }, nil
}
