package postgres

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"switchboard/internal/pgtest"
	"switchboard/internal/store/migrate"
	"switchboard/internal/store/storetest"
)

// bareSchema is a pool on an empty schema, for migrations other than the
// store's.
func bareSchema(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	url := pgtest.URL(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, url
}

func versions(t *testing.T, pool *pgxpool.Pool) []int {
	t.Helper()
	var got []int
	rows, err := pool.Query(context.Background(), "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	return got
}

func TestMigrations(t *testing.T) {
	storetest.RunMigrations(t, func(t *testing.T) storetest.Migrator {
		pool, _ := bareSchema(t)
		return storetest.Migrator{
			Run: func(ms []migrate.Migration) ([]int, error) { return runMigrations(context.Background(), pool, ms) },
			Count: func(query string) (n int, err error) {
				err = pool.QueryRow(context.Background(), query).Scan(&n)
				return n, err
			},
		}
	})
}

func TestOpenMigratesAndReopens(t *testing.T) {
	s, url := openTest(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openURL(t, url)
	applied, err := runMigrations(context.Background(), s.w, migrations)
	if err != nil || applied != nil {
		t.Fatalf("migrate on a migrated schema applied %v (%v), want nothing", applied, err)
	}
	var want []int
	for _, m := range migrations {
		want = append(want, m.Version)
	}
	if got := versions(t, s.w); !reflect.DeepEqual(got, want) {
		t.Fatalf("schema_migrations = %v, want %v", got, want)
	}
}

// TestConcurrentOpen starts relays together on a new database: one
// migrates, the others wait for it and find nothing to do.
func TestConcurrentOpen(t *testing.T) {
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := Open(context.Background(), url)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	s := openURL(t, url)
	if got := versions(t, s.w); len(got) != len(migrations) {
		t.Fatalf("schema_migrations = %v after concurrent opens", got)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	s, url := openTest(t)
	if _, err := s.w.Exec(context.Background(), "INSERT INTO schema_migrations VALUES (9999, 0)"); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), url)
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

func TestOpenFailsClearly(t *testing.T) {
	missingDB := strings.Replace(pgtest.WithSearchPath(t, pgtest.Server(), "x"), "/test?", "/no_such_db_sbtest?", 1)
	tests := []struct {
		name, url, want string
	}{
		{"not a URL", "postgres://%zz", "parse PostgreSQL URL"},
		{"nobody listening", "postgres://postgres:secret@127.0.0.1:1/test?connect_timeout=5", "is PostgreSQL running"},
		{"no such database", missingDB, "create the database first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), tt.url)
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !strings.HasPrefix(err.Error(), "open store") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("err = %v shows the password", err)
			}
			t.Log(err)
		})
	}
}

// TestReconnects ends the server side of the store's connections, as a
// PostgreSQL restart does: a batch in flight may fail (the relay retries
// it), the next attempt succeeds on a new connection, and nothing is lost.
func TestReconnects(t *testing.T) {
	s, url := openTest(t)
	ctx := context.Background()
	b := batchOfOutput(0)
	if err := s.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 3; round++ {
		if n := pgtest.TerminateBackends(t, url); n == 0 {
			t.Fatalf("round %d: no connection of the store to end", round)
		}
		b := batchOfOutput(round)
		var errs []error
		for len(errs) < 3 {
			err := s.Apply(ctx, &b)
			if err == nil {
				break
			}
			errs = append(errs, err)
		}
		if len(errs) > 1 {
			t.Fatalf("round %d: %d attempts failed: %v", round, len(errs), errors.Join(errs...))
		}
		t.Logf("round %d: failed attempts: %v", round, errs)
	}
	st, err := s.Load(ctx)
	if err != nil || len(st.Commands) != 1 || st.Commands[0].OutputBytes != 4*1000 || st.EventSeq != 4 {
		t.Fatalf("after reconnects: %+v (%v)", st, err)
	}
}
