//go:build unix

package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"switchboard/internal/store"
)

// TestServeLock: one SQLite file serves one relay at a time; the lock is
// the file's, apart from SQLite's own (a store opened beside it still
// reads and writes), taken before the file exists (it is created) and
// free again once released.
func TestServeLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sb.db")
	release, err := LockServing(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockServing(path); !errors.Is(err, store.ErrServed) {
		t.Fatalf("a second lock on the file: %v, want ErrServed", err)
	}
	db := openAt(t, path)
	if err := db.Apply(ctx, &store.Batch{}); err != nil {
		t.Fatalf("the store writes beside the lock: %v", err)
	}
	if _, err := db.History(ctx, store.HistoryQuery{}); err != nil {
		t.Fatalf("the store reads beside the lock: %v", err)
	}
	releaseOther, err := LockServing(filepath.Join(t.TempDir(), "other.db"))
	if err != nil {
		t.Fatalf("another file's lock: %v", err)
	}
	releaseOther()
	release()
	release2, err := LockServing(path)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	release2()
}
