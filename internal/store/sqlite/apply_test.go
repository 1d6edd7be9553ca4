package sqlite

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

func TestAgentRoundTrip(t *testing.T) {
	tests := map[string]wire.Agent{
		"every field": fullAgent("a-1"),
		"zero values": {AgentInfo: wire.AgentInfo{ID: "a-1"}, Status: wire.AgentOffline},
		"one label":   {AgentInfo: wire.AgentInfo{ID: "a-1", Labels: map[string]string{"k": "v"}}},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			db := openTest(t)
			apply(t, db, store.Batch{Agents: []wire.Agent{want}})
			got := load(t, db).Agents
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestCommandRoundTrip(t *testing.T) {
	shell := fullCommand("c-1")
	shell.Argv, shell.Shell, shell.ExitCode, shell.Signal = nil, "make test | tee log", nil, "SIGTERM"
	failed := fullCommand("c-1")
	failed.ExitCode = exitCode(-1)
	tests := map[string]wire.Command{
		"every field, exit code 0":      fullCommand("c-1"),
		"shell, signal, no exit code":   shell,
		"negative exit code":            failed,
		"queued with only the required": {ID: "c-1", AgentID: "a-1", State: wire.StateQueued},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			db := openTest(t)
			apply(t, db, store.Batch{Commands: []wire.Command{want}})
			got := history(t, db, store.HistoryQuery{ID: want.ID})
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestUpsertOverwritesEveryColumn(t *testing.T) {
	db := openTest(t)
	agent, cmd := fullAgent("a-1"), fullCommand("c-1")
	apply(t, db, store.Batch{Agents: []wire.Agent{agent}, Commands: []wire.Command{cmd}})

	agent = wire.Agent{AgentInfo: wire.AgentInfo{ID: "a-1", Name: "renamed"}, Status: wire.AgentOffline}
	cmd = wire.Command{ID: "c-1", AgentID: "a-2", CommandSpec: wire.CommandSpec{Shell: "x"},
		State: wire.StateRunning, CreatedAt: t0.Add(time.Hour)}
	apply(t, db, store.Batch{Agents: []wire.Agent{agent}, Commands: []wire.Command{cmd}})

	if got := load(t, db).Agents; len(got) != 1 || !reflect.DeepEqual(got[0], agent) {
		t.Fatalf("agent: got %+v, want %+v", got, agent)
	}
	if got := history(t, db, store.HistoryQuery{ID: "c-1"}); len(got) != 1 || !reflect.DeepEqual(got[0], cmd) {
		t.Fatalf("command: got %+v, want %+v", got, cmd)
	}
}

func TestEventsAreStored(t *testing.T) {
	db := openTest(t)
	events := []store.Event{
		{Seq: 1, At: t0, Kind: "agent", Subject: "a-1", Data: []byte(`{"x":1}`)},
		{Seq: 7, At: t0, Kind: "command", Subject: "c-1", Data: []byte(`{}`)},
	}
	apply(t, db, store.Batch{Events: events})
	apply(t, db, store.Batch{Events: events[:1]}) // a resent event is ignored
	if got := load(t, db).EventSeq; got != 7 {
		t.Fatalf("EventSeq = %d, want 7", got)
	}
	var (
		at   int64
		kind string
		data []byte
	)
	err := db.r.QueryRow("SELECT at, kind, data FROM events WHERE seq = 1").Scan(&at, &kind, &data)
	if err != nil || !fromNanos(at).Equal(t0) || kind != "agent" || string(data) != `{"x":1}` {
		t.Fatalf("event 1 = %v %q %q (%v)", fromNanos(at), kind, data, err)
	}
}

func TestApplyEmptyBatch(t *testing.T) {
	db := openTest(t)
	if err := db.Apply(context.Background(), &store.Batch{}); err != nil {
		t.Fatal(err)
	}
}

// batchOfEverything touches every table, so a rollback that misses one
// shows.
func batchOfEverything() store.Batch {
	return store.Batch{
		Agents:   []wire.Agent{fullAgent("a-1")},
		Commands: []wire.Command{liveCommand("c-1", wire.StateRunning, 0)},
		Output:   []store.Chunk{{CommandID: "c-1", Offset: 0, Data: pattern(0, 1<<20)}},
		Events:   []store.Event{{Seq: 1, At: t0, Kind: "boom", Subject: "c-1"}},
	}
}

// assertNothingStored fails unless db holds nothing of batchOfEverything.
func assertNothingStored(t *testing.T, db *DB) {
	t.Helper()
	st := load(t, db)
	data, _, err := db.ReadOutput(context.Background(), "c-1", 0, 10)
	if len(st.Agents)+len(st.Commands) != 0 || st.EventSeq != 0 || len(data) != 0 || err != nil {
		t.Fatalf("a failed batch left rows: %+v, output %q (%v)", st, data, err)
	}
}

// assertEverythingStored fails unless db holds all of batchOfEverything.
func assertEverythingStored(t *testing.T, db *DB) {
	t.Helper()
	st := load(t, db)
	if len(st.Agents) != 1 || len(st.Commands) != 1 || st.Commands[0].OutputBytes != 1<<20 || st.EventSeq != 1 {
		t.Fatalf("after the retry: %+v", st)
	}
}

func TestFailedApplyRollsBackAndRetrySucceeds(t *testing.T) {
	tests := []struct {
		name    string
		fail    func(t *testing.T, db *DB) (ctx context.Context, undo func())
		wantErr string
	}{{
		name: "canceled context",
		fail: func(t *testing.T, db *DB) (context.Context, func()) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, func() {}
		},
		wantErr: "context canceled",
	}, {
		// The last statement of the batch fails, after the others ran.
		name: "last row refused",
		fail: func(t *testing.T, db *DB) (context.Context, func()) {
			writer(t, db, `CREATE TEMP TRIGGER boom BEFORE INSERT ON main.events
				WHEN NEW.kind = 'boom' BEGIN SELECT RAISE(ABORT, 'boom refused'); END`)
			return context.Background(), func() { writer(t, db, "DROP TRIGGER temp.boom") }
		},
		wantErr: "boom refused",
	}, {
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
			b := batchOfEverything()
			ctx, undo := tt.fail(t, db)
			err := db.Apply(ctx, &b)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), db.path) {
				t.Fatalf("err = %v, want one naming the file and saying %q", err, tt.wantErr)
			}
			t.Log(err)
			assertNothingStored(t, db)
			undo()
			apply(t, db, b)
			assertEverythingStored(t, db)
		})
	}
}

func TestCanceledApplyIsContextError(t *testing.T) {
	db := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := batchOfEverything()
	if err := db.Apply(ctx, &b); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// writer runs stmt on the store's one write connection, which is where
// per-connection settings and temporary triggers take effect.
func writer(t *testing.T, db *DB, stmt string) {
	t.Helper()
	if _, err := db.w.Exec(stmt); err != nil {
		t.Fatal(err)
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
