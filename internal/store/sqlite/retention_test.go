package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/store/storetest"
	"switchboard/internal/wire"
)

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestReclaimShrinksFile: a new file is in incremental auto-vacuum mode,
// and a removal followed by Reclaim gives the pages back: the file (once
// the WAL is checkpointed into it) and SpaceUsed shrink by what was
// removed.
func TestReclaimShrinksFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchboard.db")
	db := openAt(t, path)
	ctx := context.Background()
	if mode, err := db.AutoVacuum(ctx); err != nil || mode != AutoVacuumIncremental {
		t.Fatalf("a new file's auto_vacuum = %d, %v; want 2 (incremental)", mode, err)
	}
	storetest.Apply(t, db, store.Batch{Commands: []wire.Command{storetest.EndedCommand("c-1", wire.StateExited, 0)}})
	for i := range int64(128) {
		storetest.Apply(t, db, store.Batch{Output: []store.Chunk{{CommandID: "c-1", Offset: i << 16, Data: storetest.Incompressible(1 << 16)}}})
	}
	writer(t, db, "PRAGMA wal_checkpoint(TRUNCATE)")
	full, usedFull := fileSize(t, path), usedSpace(t, db)
	if full < 8<<20 || usedFull < 8<<20 {
		t.Fatalf("8 MiB of output: file %d bytes, %d used", full, usedFull)
	}
	for done := false; !done; {
		r, err := db.RemoveStep(ctx, "c-1", 16)
		if err != nil {
			t.Fatal(err)
		}
		done = r.Done
	}
	if used := usedSpace(t, db); used > usedFull-8<<20 {
		t.Errorf("space used %d after removing 8 MiB of %d", used, usedFull)
	}
	steps := 0
	for more := true; more; steps++ {
		var err error
		if more, err = db.Reclaim(ctx, 64); err != nil {
			t.Fatal(err)
		}
	}
	// 8 MiB of 16 KiB pages, and a few of the output index's: a little
	// over 512 pages, 64 a step, each step going all the way.
	if steps < 8 || steps > 12 {
		t.Errorf("reclaimed in %d steps of 64 pages, want 9 or so", steps)
	}
	writer(t, db, "PRAGMA wal_checkpoint(TRUNCATE)")
	if got := fileSize(t, path); got > full-8<<20 {
		t.Errorf("file %d bytes after reclaiming 8 MiB of %d", got, full)
	}
}

func usedSpace(t *testing.T, db *DB) int64 {
	t.Helper()
	n, err := db.SpaceUsed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestConvertToIncremental: a file made without auto-vacuum (by an older
// relay) is converted once, keeping its rows, and a second call has
// nothing to do.
func TestConvertToIncremental(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchboard.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("PRAGMA page_size = 16384; CREATE TABLE old (x); INSERT INTO old VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	db := openAt(t, path)
	ctx := context.Background()
	if mode, err := db.AutoVacuum(ctx); err != nil || mode != 0 {
		t.Fatalf("auto_vacuum of the older file = %d, %v; want 0: Open must not pretend", mode, err)
	}
	storetest.Apply(t, db, store.Batch{Agents: []wire.Agent{storetest.FullAgent("a-1")}})
	if more, err := db.Reclaim(ctx, 10); err != nil || more {
		t.Errorf("Reclaim without incremental auto-vacuum = %v, %v; want nothing to do", more, err)
	}
	if done, err := db.ConvertToIncremental(ctx); err != nil || !done {
		t.Fatalf("convert = %v, %v", done, err)
	}
	if done, err := db.ConvertToIncremental(ctx); err != nil || done {
		t.Fatalf("second convert = %v, %v; want nothing to do", done, err)
	}
	if got := storetest.Load(t, db).Agents; len(got) != 1 {
		t.Errorf("agents after the conversion: %v", got)
	}
}

// TestReclaimShrinksSearchIndex: the search index keeps the pages of
// removed lines (delete markers beside what they cancel) until Reclaim
// merges its segments; then it holds about what the remaining command
// needs.
func TestReclaimShrinksSearchIndex(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	for i := range 10 {
		id := fmt.Sprintf("c-%02d", i)
		var out strings.Builder
		for range 2000 {
			fmt.Fprintf(&out, "%x %x mark%d\r\n", storetest.Incompressible(8), storetest.Incompressible(8), i)
		}
		storetest.Apply(t, db, store.Batch{Commands: []wire.Command{storetest.EndedCommand(id, wire.StateExited, time.Duration(i)*time.Minute)},
			Output: []store.Chunk{{CommandID: id, Data: []byte(out.String())}}})
		storetest.IndexAll(t, db)
	}
	storetest.IndexAll(t, db)
	indexBytes := func() int64 {
		var n int64
		if err := db.r.QueryRow("SELECT coalesce(sum(length(block)), 0) FROM search_fts_data").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	full := indexBytes()
	for i := range 9 {
		for done := false; !done; {
			r, err := db.RemoveStep(ctx, fmt.Sprintf("c-%02d", i), 500)
			if err != nil {
				t.Fatal(err)
			}
			done = r.Done
		}
	}
	removed := indexBytes()
	if removed < full {
		t.Logf("the index shrank from %d to %d bytes without a merge", full, removed)
	}
	for steps := 0; ; steps++ {
		more, err := db.Reclaim(ctx, 64)
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
		if steps > 1000 {
			t.Fatal("Reclaim does not end")
		}
	}
	if got := indexBytes(); got > full/5 {
		t.Errorf("search index %d bytes with 10 commands, %d after removing 9, %d after Reclaim: want a tenth or so", full, removed, got)
	}
	for word, want := range map[string]int{"mark9": 10, "mark0": 0} {
		hits, err := db.Search(ctx, store.SearchQuery{Terms: []store.SearchTerm{{Tokens: []string{word}}}, Limit: 10})
		if err != nil || len(hits) != want {
			t.Errorf("%s after the merge: %d hits, %v; want %d", word, len(hits), err, want)
		}
	}
}
