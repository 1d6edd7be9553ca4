package chaos

import (
	"context"
	"database/sql"
	"testing"

	_ "modernc.org/sqlite" // the driver the relay uses

	"switchboard/internal/store/sqlite"
)

// integrity runs PRAGMA integrity_check on a database file no relay has
// open, the way an operator would after a crash, and fails the test unless
// it opens and checks clean.
func integrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("integrity_check %s: %v", path, err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("integrity_check %s: %v", path, err)
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		t.Fatalf("integrity_check %s: %v", path, msgs)
	}
}

// storedOutput reads commands' whole stored output from a database file
// no relay has open.
func storedOutput(t *testing.T, path string, ids ...string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := make(map[string][]byte, len(ids))
	for _, id := range ids {
		var all []byte
		for {
			data, start, err := st.ReadOutput(ctx, id, int64(len(all)), 1<<20)
			if err != nil {
				t.Fatalf("read stored output of %s: %v", id, err)
			}
			if len(data) == 0 {
				break
			}
			if start != int64(len(all)) {
				t.Errorf("stored output of %s has a gap at %d (next chunk at %d)", id, len(all), start)
				break
			}
			all = append(all, data...)
		}
		out[id] = all
	}
	return out
}
