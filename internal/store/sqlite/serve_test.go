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
// the file's, apart from SQLite's own (both handles still read and write),
// and goes when released.
func TestServeLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sb.db")
	first, second := openAt(t, path), openAt(t, path)
	release, err := first.LockServing(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := second.LockServing(ctx, nil); !errors.Is(err, store.ErrServed) {
		t.Fatalf("a second lock on the file: %v, want ErrServed", err)
	}
	if _, err := second.History(ctx, store.HistoryQuery{}); err != nil {
		t.Fatalf("the store is still readable beside the lock: %v", err)
	}
	if err := first.Apply(ctx, &store.Batch{}); err != nil {
		t.Fatalf("the holder writes under its lock: %v", err)
	}
	other := openAt(t, filepath.Join(t.TempDir(), "other.db"))
	releaseOther, err := other.LockServing(ctx, nil)
	if err != nil {
		t.Fatalf("another file's lock: %v", err)
	}
	releaseOther()
	release()
	release2, err := second.LockServing(ctx, nil)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	release2()
}
