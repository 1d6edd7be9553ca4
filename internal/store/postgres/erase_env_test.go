package postgres

import (
	"context"
	"strings"
	"testing"

	"switchboard/internal/store/sqlrow"
	"switchboard/internal/wire"
)

// TestMigrationErasesEnv: as SQLite's, on PostgreSQL: upgrading erases
// the env values kept from before in every command past queued and in the
// stored command events; a queued command keeps them.
func TestMigrationErasesEnv(t *testing.T) {
	ctx := context.Background()
	pool, _ := bareSchema(t)
	before := 0
	for i, m := range migrations {
		if strings.Contains(m.Name, "erase_env") {
			before = i
		}
	}
	if _, err := runMigrations(ctx, pool, migrations[:before]); err != nil {
		t.Fatal(err)
	}
	for _, c := range []wire.Command{
		{ID: "c-done", AgentID: "a", State: wire.StateExited, CommandSpec: wire.CommandSpec{Argv: []string{"x"}, Env: wire.Strings{"TOKEN": "s3cret", "CI": "1"}}},
		{ID: "c-queued", AgentID: "a", State: wire.StateQueued, CommandSpec: wire.CommandSpec{Argv: []string{"x"}, Env: wire.Strings{"TOKEN": "keep"}}},
	} {
		if _, err := pool.Exec(ctx, upsertCommand, sqlrow.CommandArgs(&c)...); err != nil {
			t.Fatal(err)
		}
	}
	event := `{"type":"command","seq":1,"command":{"id":"c-done","env":{"TOKEN":"s3cret"},"state":"exited"}}`
	if _, err := pool.Exec(ctx, insertEvent, 1, 1, "command", "c-done", []byte(event)); err != nil {
		t.Fatal(err)
	}
	if _, err := runMigrations(ctx, pool, migrations); err != nil {
		t.Fatal(err)
	}
	env := func(id string) string {
		var s string
		if err := pool.QueryRow(ctx, "SELECT env::text FROM commands WHERE id = $1", id).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got := env("c-done"); strings.Contains(got, "s3cret") || !strings.Contains(got, `"TOKEN"`) || !strings.Contains(got, `"CI"`) {
		t.Errorf("a finished command's env after the migration: %s", got)
	}
	if got := env("c-queued"); got != `{"TOKEN":"keep"}` {
		t.Errorf("a queued command's env after the migration: %s", got)
	}
	var data []byte
	if err := pool.QueryRow(ctx, "SELECT data FROM events WHERE seq = 1").Scan(&data); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "s3cret") || !strings.Contains(string(data), "c-done") {
		t.Errorf("the command event after the migration: %s", data)
	}
}
