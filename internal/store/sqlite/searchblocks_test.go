package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"switchboard/internal/store"
	"switchboard/internal/store/storetest"
	"switchboard/internal/wire"
)

// TestUpgradeToSearchBlocks: a store indexed a line per row (migration 9)
// opens with the index in blocks (10): the old rows and cursors are gone,
// every command is in the backlog again, and indexing it again finds its
// lines.
func TestUpgradeToSearchBlocks(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old := bareFile(t, path)
	if _, err := runMigrations(ctx, old, migrations[:9]); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"INSERT INTO search_line (id, command_id, n, off, text) VALUES (1, 'c-1', 0, 0, 'stale line')",
		"INSERT INTO search_fts (rowid, text) VALUES (1, 'stale line')",
		"INSERT INTO search_cursor (command_id, off, n, done) VALUES ('c-1', 12, 1, 1)",
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	db := openAt(t, path)
	c := storetest.EndedCommand("c-1", wire.StateExited, 0)
	storetest.Apply(t, db, store.Batch{Commands: []wire.Command{c},
		Output: []store.Chunk{{CommandID: "c-1", Data: []byte("needle one\r\n")}}})
	backlog, err := db.IndexBacklog(ctx)
	if err != nil || len(backlog) != 1 || backlog[0].Off != 0 {
		t.Fatalf("backlog after the upgrade: %+v, %v; want c-1 from 0", backlog, err)
	}
	storetest.IndexAll(t, db)
	terms, _ := store.ParseSearch("line")
	if hits, err := db.Search(ctx, store.SearchQuery{Terms: terms}); err != nil || len(hits) != 0 {
		t.Fatalf("the old index's line is still found: %+v, %v", hits, err)
	}
	terms, _ = store.ParseSearch("needle")
	if hits, err := db.Search(ctx, store.SearchQuery{Terms: terms}); err != nil || len(hits) != 1 || hits[0].Text != "needle one" {
		t.Fatalf("after indexing again: %+v, %v", hits, err)
	}
}
