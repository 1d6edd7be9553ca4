package pgtest

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestSweepDropsOnlyStaleSchemas(t *testing.T) {
	server := Server()
	old := fmt.Sprintf("sbtest_sweep_old_%d", time.Now().UnixNano())
	fresh := fmt.Sprintf("sbtest_sweep_new_%d", time.Now().UnixNano())
	Exec(t, server, fmt.Sprintf("CREATE SCHEMA %s; COMMENT ON SCHEMA %[1]s IS '%d'", old, time.Now().Add(-staleAfter-time.Minute).Unix()))
	Exec(t, server, fmt.Sprintf("CREATE SCHEMA %s; COMMENT ON SCHEMA %[1]s IS '%d'", fresh, time.Now().Unix()))
	t.Cleanup(func() { Exec(t, server, "DROP SCHEMA IF EXISTS "+old+", "+fresh) })

	sweep(t, server)
	conn := Connect(t, server)
	defer conn.Close(context.Background())
	for name, want := range map[string]bool{old: false, fresh: true} {
		var exists bool
		err := conn.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", name).Scan(&exists)
		if err != nil || exists != want {
			t.Errorf("schema %s exists: %v (%v), want %v", name, exists, err, want)
		}
	}
}

func TestURLSelectsAFreshSchema(t *testing.T) {
	a, b := URL(t), URL(t)
	if a == b {
		t.Fatalf("two tests share %s", a)
	}
	conn := Connect(t, a)
	defer conn.Close(context.Background())
	var schema string
	if err := conn.QueryRow(context.Background(), "SELECT current_schema()").Scan(&schema); err != nil || schema == "" {
		t.Fatalf("current_schema() = %q (%v): the schema of the URL does not exist", schema, err)
	}
	other := Connect(t, b)
	defer other.Close(context.Background())
	if n := TerminateBackends(t, a); n != 1 {
		t.Fatalf("ended %d connections, want the 1 opened with %s", n, a)
	}
	if err := conn.Ping(context.Background()); err == nil {
		t.Fatal("the ended connection still answers")
	}
	if err := other.Ping(context.Background()); err != nil {
		t.Fatalf("another test's connection was ended too: %v", err)
	}
}
