package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"switchboard/internal/store"
	"switchboard/internal/store/migrate"
	"switchboard/internal/store/storetest"
	"switchboard/internal/wire"
)

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

// harness gives the shared suite a new file for each test.
var harness = storetest.Harness{
	New: func(t testing.TB) func(testing.TB) storetest.Store {
		path := filepath.Join(t.TempDir(), "switchboard.db")
		return func(t testing.TB) storetest.Store { return openAt(t, path) }
	},
	RefuseEvents: func(t testing.TB, s storetest.Store, kind string) func() {
		db := s.(*DB)
		writer(t, db, `CREATE TEMP TRIGGER refuse BEFORE INSERT ON main.events
			WHEN NEW.kind = '`+kind+`' BEGIN SELECT RAISE(ABORT, 'refused'); END`)
		return func() { writer(t, db, "DROP TRIGGER temp.refuse") }
	},
}

func TestStore(t *testing.T) { storetest.Run(t, harness) }

func BenchmarkStore(b *testing.B) { storetest.Bench(b, harness) }

// writer runs stmt on the store's one write connection, which is where
// per-connection settings and temporary triggers take effect.
func writer(t testing.TB, db *DB, stmt string) {
	t.Helper()
	if _, err := db.w.Exec(stmt); err != nil {
		t.Fatal(err)
	}
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
	storetest.Apply(t, db, store.Batch{Agents: []wire.Agent{storetest.FullAgent("a-1")}})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openAt(t, path)
	if got := storetest.Load(t, db).Agents; len(got) != 1 {
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

func assertVersions(t *testing.T, db *DB, ms []migrate.Migration) {
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
		want = append(want, m.Version)
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

func TestMigrations(t *testing.T) {
	storetest.RunMigrations(t, func(t *testing.T) storetest.Migrator {
		db := bareDB(t)
		return storetest.Migrator{
			Run: func(ms []migrate.Migration) ([]int, error) { return runMigrations(context.Background(), db, ms) },
			Count: func(query string) (n int, err error) {
				err = db.QueryRow(query).Scan(&n)
				return n, err
			},
		}
	})
}

func TestReopenRunsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db := openAt(t, path)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openAt(t, path)
	applied, err := runMigrations(context.Background(), db.w, migrations)
	if err != nil || applied != nil {
		t.Fatalf("migrate on a migrated file applied %v (%v), want nothing", applied, err)
	}
	assertVersions(t, db, migrations)
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

func TestEmbeddedMigrationsAreNumberedFromOne(t *testing.T) {
	for i, m := range migrations {
		if m.Version != i+1 {
			t.Fatalf("migration %s has version %d, want %d", m.Name, m.Version, i+1)
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

// TestSyncModes: commits are synced at each commit by default (what the
// relay acknowledges is on disk), and only at checkpoints with SyncNormal.
func TestSyncModes(t *testing.T) {
	for _, tt := range []struct {
		opts []Option
		want int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{{nil, 2}, {[]Option{WithSync(SyncFull)}, 2}, {[]Option{WithSync(SyncNormal)}, 1}} {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "sb.db"), tt.opts...)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := db.w.QueryRow("PRAGMA synchronous").Scan(&got); err != nil || got != tt.want {
			t.Errorf("options %d: synchronous = %d, %v; want %d", len(tt.opts), got, err, tt.want)
		}
		db.Close()
	}
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "sb.db"), WithSync("off")); err == nil {
		t.Error("sync off was accepted")
	}
}

// BenchmarkStoreSyncNormal is BenchmarkStore with commits synced only at
// checkpoints, to weigh what durable commits cost.
func BenchmarkStoreSyncNormal(b *testing.B) {
	h := harness
	h.New = func(t testing.TB) func(testing.TB) storetest.Store {
		path := filepath.Join(t.TempDir(), "switchboard.db")
		return func(t testing.TB) storetest.Store {
			db, err := Open(context.Background(), path, WithSync(SyncNormal))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			return db
		}
	}
	storetest.Bench(b, h)
}
