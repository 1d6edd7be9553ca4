package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"switchboard/internal/pgtest"
	"switchboard/internal/store"
)

// TestServeLock: one store per schema serves one relay at a time; another
// schema is another store. When the server cuts the connection holding
// the lock, the holder takes it back; when another relay took it first,
// the holder is told it lost it.
func TestServeLock(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	lost := make(chan error, 1)
	release, err := LockServing(ctx, url, func(err error) { lost <- err })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockServing(ctx, url, nil); !errors.Is(err, store.ErrServed) {
		t.Fatalf("a second lock on the schema: %v, want ErrServed", err)
	}
	releaseOther, err := LockServing(ctx, pgtest.URL(t), nil)
	if err != nil {
		t.Fatalf("the lock of another schema: %v", err)
	}
	releaseOther()

	pgtest.TerminateBackends(t, url) // the server cuts the holder's connection
	time.Sleep(2*serveCheckEvery + serveCheckEvery/2)
	if _, err := LockServing(ctx, url, nil); !errors.Is(err, store.ErrServed) {
		t.Fatalf("after the cut, the holder did not take its lock back: %v", err)
	}
	select {
	case err := <-lost:
		t.Fatalf("lost called after taking the lock back: %v", err)
	default:
	}

	pgtest.TerminateBackends(t, url)
	var releaseSecond func()
	for deadline := time.Now().Add(serveCheckEvery); releaseSecond == nil; {
		if releaseSecond, err = LockServing(ctx, url, nil); err != nil && time.Now().After(deadline) {
			t.Fatalf("the second store never took the lock while the holder's connection was cut: %v", err)
		}
	}
	defer releaseSecond()
	select {
	case err := <-lost:
		if !errors.Is(err, store.ErrServed) {
			t.Fatalf("lost with %v", err)
		}
	case <-time.After(3 * serveCheckEvery):
		t.Fatal("the holder was not told that another took its lock")
	}
	release()
}

// TestServeLockReleased: a released lock may be taken at once; a schema
// no store has opened yet can be locked.
func TestServeLockReleased(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	release, err := LockServing(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	release()
	release2, err := LockServing(ctx, url, nil)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	release2()
}
