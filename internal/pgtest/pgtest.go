// Package pgtest gives a test a PostgreSQL database of its own: a schema
// with a random name in the test server, selected by the search_path of
// the URL it returns, and dropped when the test ends. Tests in parallel
// packages never see each other's tables. It also plays a server restart
// for one test alone, never for the shared server: TerminateBackends ends
// the test's connections, and Proxy stands between a client and the server
// and goes away and comes back. A Proxy's goroutines (an accept loop, two
// copiers per connection) end when it goes down and the test ends.
//
// The server is SWITCHBOARD_TEST_POSTGRES, by default
// postgres://postgres@127.0.0.1:5432/test (.ci/run starts it). A test that
// cannot reach it fails, saying so: it never skips. Schemas left behind by
// a killed test process are dropped by a later one after six hours.
package pgtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultServer is the test server when SWITCHBOARD_TEST_POSTGRES is unset.
const DefaultServer = "postgres://postgres@127.0.0.1:5432/test"

// Server is the URL of the test server.
func Server() string {
	if u := os.Getenv("SWITCHBOARD_TEST_POSTGRES"); u != "" {
		return u
	}
	return DefaultServer
}

// URL creates an empty schema for t and returns the server's URL with a
// search_path that selects it. The schema is dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	server := Server()
	sweepOnce.Do(func() { sweep(t, server) })
	schema := "sbtest_" + strings.ToLower(rand.Text()[:16]) // [a-z2-7]: no quoting needed
	exec(t, server, fmt.Sprintf("CREATE SCHEMA %s; COMMENT ON SCHEMA %[1]s IS '%d'",
		pgx.Identifier{schema}.Sanitize(), time.Now().Unix()))
	t.Cleanup(func() { exec(t, server, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE") })
	return WithSearchPath(t, server, schema)
}

// staleAfter is how old a test schema must be before any test process may
// drop it: one whose test was killed before its cleanup ran. No test runs
// this long.
const staleAfter = 6 * time.Hour

var sweepOnce sync.Once

// sweep drops test schemas left behind by killed test processes, once per
// process, so that a shared server does not fill up with them. A schema's
// comment holds when it was created.
func sweep(t testing.TB, server string) {
	t.Helper()
	const stale = `SELECT nspname FROM pg_namespace
WHERE nspname LIKE 'sbtest\_%' AND obj_description(oid, 'pg_namespace') ~ '^[0-9]+$'
  AND obj_description(oid, 'pg_namespace')::bigint < $1`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := Connect(t, server)
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, stale, time.Now().Add(-staleAfter).Unix()) // CollectRows reports its error
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Logf("PostgreSQL: finding stale test schemas: %v", err)
		return
	}
	for _, name := range names {
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Logf("PostgreSQL: dropping stale test schema %s: %v", name, err)
		}
	}
}

// WithSearchPath is server's URL with search_path set to schema, and the
// schema's name as the connections' application_name, by which
// TerminateBackends finds them.
func WithSearchPath(t testing.TB, server, schema string) string {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("SWITCHBOARD_TEST_POSTGRES %q is not a URL: %v", server, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TerminateBackends ends the server side of every connection opened with
// dbURL (a URL from URL), as a server restart would, without disturbing
// anyone else's, and returns how many it ended.
func TerminateBackends(t testing.TB, dbURL string) int {
	t.Helper()
	n, err := Terminate(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Terminate is TerminateBackends for a goroutine other than the test's,
// where a test may not fail itself with Fatal.
func Terminate(dbURL string) (int, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return 0, err
	}
	app := u.Query().Get("application_name")
	if app == "" {
		return 0, fmt.Errorf("%s names no application_name", redact(dbURL))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, Server())
	if err != nil {
		return 0, fmt.Errorf("PostgreSQL test server %s: %w", redact(Server()), err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("terminate the backends of %s: %w", app, err)
	}
	return n, nil
}

// Exec runs sql on its own connection to the database at dbURL.
func Exec(t testing.TB, dbURL, sql string) {
	t.Helper()
	exec(t, dbURL, sql)
}

func exec(t testing.TB, dbURL, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := Connect(t, dbURL)
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("PostgreSQL: %s: %v", sql, err)
	}
}

// Connect opens one plain connection to dbURL, failing t with what to do
// when the server cannot be reached. The caller closes it.
func Connect(t testing.TB, dbURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("PostgreSQL test server %s is not reachable: %v\n"+
			"The store tests need one: start it (.ci/run does), or set SWITCHBOARD_TEST_POSTGRES "+
			"to the URL of a server where they may create and drop schemas.", redact(dbURL), err)
	}
	return conn
}

// redact hides a password in a URL for messages.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}
