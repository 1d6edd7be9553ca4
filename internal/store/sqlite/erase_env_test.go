package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/internal/store/sqlrow"
	"switchboard/internal/wire"
)

// TestMigrationErasesEnv: upgrading a database that kept env values
// forever erases them from every command past queued and from the stored
// command events; a queued command keeps them, to start as asked.
func TestMigrationErasesEnv(t *testing.T) {
	ctx := context.Background()
	w, err := openWriter(ctx, filepath.Join(t.TempDir(), "sb.db"), SyncFull)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	before := 0
	for i, m := range migrations {
		if strings.Contains(m.Name, "erase_env") {
			before = i
		}
	}
	if _, err := runMigrations(ctx, w, migrations[:before]); err != nil {
		t.Fatal(err)
	}
	for _, c := range []wire.Command{
		{ID: "c-done", AgentID: "a", State: wire.StateExited, CommandSpec: wire.CommandSpec{Argv: []string{"x"}, Env: wire.Strings{"TOKEN": "s3cret", "CI": "1"}}},
		{ID: "c-queued", AgentID: "a", State: wire.StateQueued, CommandSpec: wire.CommandSpec{Argv: []string{"x"}, Env: wire.Strings{"TOKEN": "keep"}}},
	} {
		if _, err := w.ExecContext(ctx, upsertCommand, sqlrow.CommandArgs(&c)...); err != nil {
			t.Fatal(err)
		}
	}
	event := `{"type":"command","seq":1,"command":{"id":"c-done","env":{"TOKEN":"s3cret"},"state":"exited"}}`
	if _, err := w.ExecContext(ctx, insertEvent, 1, 1, "command", "c-done", []byte(event)); err != nil {
		t.Fatal(err)
	}
	if _, err := runMigrations(ctx, w, migrations); err != nil {
		t.Fatal(err)
	}
	env := func(id string) string {
		var s string
		if err := w.QueryRowContext(ctx, "SELECT env FROM commands WHERE id = ?", id).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got := env("c-done"); got != `{"CI":"","TOKEN":""}` {
		t.Errorf("a finished command's env after the migration: %s", got)
	}
	if got := env("c-queued"); got != `{"TOKEN":"keep"}` {
		t.Errorf("a queued command's env after the migration: %s", got)
	}
	var data []byte
	if err := w.QueryRowContext(ctx, "SELECT data FROM events WHERE seq = 1").Scan(&data); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "s3cret") || !strings.Contains(string(data), `"id":"c-done"`) {
		t.Errorf("the command event after the migration: %s", data)
	}
}
