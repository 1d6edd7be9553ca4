package sqlite

import (
	"context"
	"strings"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
	"switchboard/internal/store/storetest"
)

// TestEventsAreStored checks an event's columns, which no read of the
// store interface returns.
func TestEventsAreStored(t *testing.T) {
	db := openTest(t)
	storetest.Apply(t, db, store.Batch{Events: []store.Event{
		{Seq: 1, At: storetest.T0, Kind: "agent", Subject: "a-1", Data: []byte(`{"x":1}`)},
	}})
	var (
		at   int64
		kind string
		data []byte
	)
	err := db.r.QueryRow("SELECT at, kind, data FROM events WHERE seq = 1").Scan(&at, &kind, &data)
	if err != nil || !sqlrow.FromNanos(at).Equal(storetest.T0) || kind != "agent" || string(data) != `{"x":1}` {
		t.Fatalf("event 1 = %v %q %q (%v)", sqlrow.FromNanos(at), kind, data, err)
	}
}

// TestFailedApplyRollsBack adds SQLite's own failures to the suite's: a
// full disk and a file locked by another process. The error names the file.
func TestFailedApplyRollsBack(t *testing.T) {
	tests := []struct {
		name    string
		fail    func(t *testing.T, db *DB) (ctx context.Context, undo func())
		wantErr string
	}{{
		// max_page_count is how SQLite sees a full disk: the same
		// SQLITE_FULL, from the same place. (Tests run as root, so a
		// read-only file is not an option.)
		name: "disk full",
		fail: func(t *testing.T, db *DB) (context.Context, func()) {
			writer(t, db, "PRAGMA max_page_count = 20")
			return context.Background(), func() { writer(t, db, "PRAGMA max_page_count = 4294967294") }
		},
		wantErr: "database or disk is full",
	}, {
		name: "file locked by another process",
		fail: func(t *testing.T, db *DB) (context.Context, func()) {
			release := lockFile(t, db.path)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			t.Cleanup(cancel)
			return ctx, release
		},
		wantErr: "context deadline exceeded",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTest(t)
			b := storetest.BatchOfEverything()
			ctx, undo := tt.fail(t, db)
			err := db.Apply(ctx, &b)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), db.path) {
				t.Fatalf("err = %v, want one naming the file and saying %q", err, tt.wantErr)
			}
			t.Log(err)
			storetest.AssertNothingStored(t, db)
			undo()
			storetest.Apply(t, db, b)
			storetest.AssertEverythingStored(t, db)
		})
	}
}

// lockFile holds the database's write lock from another connection, as an
// operator's sqlite3 shell could, until release is called.
func lockFile(t *testing.T, path string) (release func()) {
	t.Helper()
	other := bareFile(t, path)
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO events (seq, at, kind, subject) VALUES (1000, 0, 'lock', '')"); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
	}
}
