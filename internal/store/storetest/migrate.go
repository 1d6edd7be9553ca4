package storetest

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"switchboard/internal/store/migrate"
)

// Migrator is a store's migration runner on an empty database of its kind,
// for migrations other than the store's own.
type Migrator struct {
	// Run applies the migrations of ms not applied yet, in one
	// transaction, and returns the versions it applied.
	Run func(ms []migrate.Migration) ([]int, error)
	// Count is the number a query of one integer answers.
	Count func(query string) (int, error)
}

// RunMigrations tests a store's migration runner, on a new empty database
// from newMigrator for each test: each migration runs once, in order, and
// a run that fails leaves the database as it was.
func RunMigrations(t *testing.T, newMigrator func(t *testing.T) Migrator) {
	t.Run("RunsEachOnce", func(t *testing.T) { testMigrateRunsEachOnce(t, newMigrator(t)) })
	t.Run("AllOrNothing", func(t *testing.T) { testMigrateAllOrNothing(t, newMigrator(t)) })
}

func testMigrateRunsEachOnce(t *testing.T, m Migrator) {
	fsys := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("CREATE TABLE t (x integer); INSERT INTO t VALUES (1);")},
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
		ms, err := migrate.Load(fsys)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Run(ms)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Fatalf("step %d: applied %v, want %v", i, got, s.want)
		}
	}
	if n, err := m.Count("SELECT count(*) FROM t"); err != nil || n != 2 {
		t.Fatalf("t has %d rows (%v), want 2: a migration ran twice or not at all", n, err)
	}
}

func testMigrateAllOrNothing(t *testing.T, m Migrator) {
	ms := []migrate.Migration{
		{Version: 1, Name: "0001_ok.sql", SQL: "CREATE TABLE ok (x integer);"},
		{Version: 2, Name: "0002_bad.sql", SQL: "CREATE TABLE bad (x integer); NOT SQL;"},
	}
	_, err := m.Run(ms)
	if err == nil || !strings.Contains(err.Error(), "0002_bad.sql") {
		t.Fatalf("err = %v, want one naming 0002_bad.sql", err)
	}
	for _, table := range []string{"ok", "bad", "schema_migrations"} {
		if n, err := m.Count("SELECT count(*) FROM " + table); err == nil {
			t.Errorf("table %s survives the failed run (%d rows)", table, n)
		}
	}
}
