package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// t0 has nanoseconds so that a precision loss anywhere shows.
var t0 = time.Date(2026, 11, 26, 5, 0, 0, 123456789, time.UTC)

func openTest(t testing.TB) *DB {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "switchboard.db"))
}

func openAt(t testing.TB, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func apply(t testing.TB, db *DB, b store.Batch) {
	t.Helper()
	if err := db.Apply(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
}

func load(t testing.TB, db *DB) store.State {
	t.Helper()
	st, err := db.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func fullAgent(id string) wire.Agent {
	return wire.Agent{
		AgentInfo: wire.AgentInfo{
			ID: id, Name: "build-" + id, Labels: map[string]string{"pool": "ci", "gpu": ""},
			Hostname: "box", OS: "linux", Arch: "amd64", Version: "0.1.0", MaxConcurrent: 4, NoInput: true,
		},
		Status: wire.AgentBusy, Running: 2, LastSeen: t0,
	}
}

func exitCode(n int) *int { return &n }

// fullCommand sets every field of a final command.
func fullCommand(id string) wire.Command {
	return wire.Command{
		ID: id, AgentID: "a-1", AgentName: "build-1",
		CommandSpec: wire.CommandSpec{
			Argv: []string{"make", "test", "ünïcode", ""}, Cwd: "/src",
			Env: map[string]string{"CI": "1", "EMPTY": ""}, Cols: 120, Rows: 40, TimeoutMS: 600000,
		},
		Session: true, State: wire.StateExited, ExitCode: exitCode(0), Signal: "SIGKILL",
		Reason: "why", RequestedBy: "tui", CreatedAt: t0, StartedAt: t0.Add(time.Second),
		EndedAt: t0.Add(time.Minute), DurationMS: 59000, OutputBytes: 48213, LostBytes: 7,
	}
}

// liveCommand is a queued command created at t0+age.
func liveCommand(id string, state wire.CommandState, age time.Duration) wire.Command {
	return wire.Command{ID: id, AgentID: "a-1", CommandSpec: wire.CommandSpec{Shell: "true"},
		State: state, CreatedAt: t0.Add(age)}
}

func history(t testing.TB, db *DB, q store.HistoryQuery) []wire.Command {
	t.Helper()
	cmds, err := db.History(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return cmds
}

func ids(cmds []wire.Command) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = c.ID
	}
	return out
}

func TestOpenSetsWALAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir with ?#% odd", "x.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	db := openAt(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not where asked: %v", err)
	}
	var (
		mode     string
		pageSize int
	)
	if err := db.r.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	if err := db.r.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil || pageSize != 16384 {
		t.Fatalf("page_size = %d, %v; want 16384", pageSize, err)
	}
	apply(t, db, store.Batch{Agents: []wire.Agent{fullAgent("a-1")}})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openAt(t, path)
	if got := load(t, db).Agents; len(got) != 1 {
		t.Fatalf("after reopen: %d agents, want 1", len(got))
	}
	assertVersions(t, db, migrations)
}

func TestOpenFailsClearly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no such dir", "x.db")
	_, err := Open(context.Background(), path)
	if err == nil || !strings.HasPrefix(err.Error(), "open store "+path+": ") {
		t.Fatalf("err = %v, want it to start with %q", err, "open store "+path)
	}
}

func assertVersions(t *testing.T, db *DB, ms []migration) {
	t.Helper()
	rows, err := db.r.Query("SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got, want []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	for _, m := range ms {
		want = append(want, m.version)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("schema_migrations = %v, want %v", got, want)
	}
}

// bareDB is an empty SQLite file, for migrations other than the store's.
func bareDB(t *testing.T) *sql.DB {
	t.Helper()
	return bareFile(t, filepath.Join(t.TempDir(), "bare.db"))
}

// bareFile is one plain connection to path, as another process would open.
func bareFile(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// pattern is n bytes of output starting at offset off. Every byte value
// occurs, and a byte read from the wrong offset differs.
func pattern(off int64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		x := off + int64(i)
		b[i] = byte(x*131 + x>>8)
	}
	return b
}

func TestMigrateRunsEachOnce(t *testing.T) {
	db := bareDB(t)
	fsys := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")},
	}
	steps := []struct {
		add  string // a migration file added before this step
		want []int  // the versions this step applies
	}{
		{want: []int{1}},
		{want: nil},
		{add: "migrations/0002_b.sql", want: []int{2}},
		{want: nil},
	}
	for i, s := range steps {
		if s.add != "" {
			fsys[s.add] = &fstest.MapFile{Data: []byte("INSERT INTO t VALUES (2);")}
		}
		ms, err := loadMigrations(fsys)
		if err != nil {
			t.Fatal(err)
		}
		got, err := migrate(context.Background(), db, ms)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Fatalf("step %d: applied %v, want %v", i, got, s.want)
		}
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Fatalf("t has %d rows (%v), want 2: a migration ran twice or not at all", n, err)
	}
}

func TestReopenRunsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db := openAt(t, path)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openAt(t, path)
	applied, err := migrate(context.Background(), db.w, migrations)
	if err != nil || applied != nil {
		t.Fatalf("migrate on a migrated file applied %v (%v), want nothing", applied, err)
	}
	assertVersions(t, db, migrations)
}

func TestMigrateAllOrNothing(t *testing.T) {
	db := bareDB(t)
	ms := []migration{
		{version: 1, name: "0001_ok.sql", sql: "CREATE TABLE ok (x INTEGER);"},
		{version: 2, name: "0002_bad.sql", sql: "CREATE TABLE bad (x INTEGER); NOT SQL;"},
	}
	_, err := migrate(context.Background(), db, ms)
	if err == nil || !strings.Contains(err.Error(), "0002_bad.sql") {
		t.Fatalf("err = %v, want one naming 0002_bad.sql", err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d schema objects survive the failed run (%v), want none", n, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db := openAt(t, path)
	if _, err := db.w.Exec("INSERT INTO schema_migrations VALUES (9999, 0)"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "schema version 9999") {
		t.Fatalf("err = %v, want a refusal naming version 9999", err)
	}
}

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	tests := map[string]fstest.MapFS{
		"no number":      {"migrations/init.sql": {}},
		"zero":           {"migrations/0000_init.sql": {}},
		"shared version": {"migrations/0001_a.sql": {}, "migrations/01_b.sql": {}},
	}
	for name, fsys := range tests {
		t.Run(name, func(t *testing.T) {
			if ms, err := loadMigrations(fsys); err == nil {
				t.Fatalf("loaded %v, want an error", ms)
			}
		})
	}
}

func TestEmbeddedMigrationsAreNumberedFromOne(t *testing.T) {
	for i, m := range migrations {
		if m.version != i+1 {
			t.Fatalf("migration %s has version %d, want %d", m.name, m.version, i+1)
		}
	}
}

func TestCloseTwice(t *testing.T) {
	db := openTest(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}
