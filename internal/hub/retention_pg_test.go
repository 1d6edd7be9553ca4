package hub

import (
	"context"
	"crypto/rand"
	"log/slog"
	"slices"
	"testing"
	"time"

	"switchboard/internal/pgtest"
	"switchboard/internal/store"
	"switchboard/internal/store/postgres"
	"switchboard/internal/wire"
)

// TestRetentionMaxSizePostgres: PostgreSQL's tables keep their size when
// rows go, so retention counts what removed rows left free, and writes
// that did not grow the tables as having reused it: after a removal for
// size, a command written into the space left is no reason to remove
// more, and one that grows the tables past the limit is.
func TestRetentionMaxSizePostgres(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var age time.Duration
	finished := func(id string, size int) {
		t.Helper()
		age += time.Minute
		at := time.Now().Add(-time.Hour + age)
		b := store.Batch{Commands: []wire.Command{{ID: id, AgentID: "a-1", State: wire.StateExited, CreatedAt: at, EndedAt: at}}}
		for off := 0; off < size; off += 64 << 10 {
			data := make([]byte, 64<<10)
			_, _ = rand.Read(data) // incompressible: TOAST stores it whole
			b.Output = append(b.Output, store.Chunk{CommandID: id, Offset: int64(off), Data: data})
		}
		if err := st.Apply(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	used := func() int64 {
		t.Helper()
		n, err := st.SpaceUsed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	const limit = 8 << 20
	finished("c-1", 6<<20)
	finished("c-2", 3<<20)
	h, err := New(Config{Logger: slog.New(slog.DiscardHandler), Retention: Retention{MaxSize: limit}}, st, store.State{})
	if err != nil {
		t.Fatal(err)
	}
	pass := func(want ...string) {
		t.Helper()
		if err := h.retainer.pass(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
		if got := history(t, st); !slices.Equal(got, want) {
			t.Fatalf("history after a pass = %v, want %v (space used %d, counted free %d, limit %d)",
				got, want, used(), h.retainer.free, limit)
		}
	}
	before := used()
	pass("c-2") // 9 MiB: c-1 goes
	if after := used(); after < before-1<<20 {
		t.Fatalf("the tables shrank from %d to %d bytes: not what this test is about", before, after)
	}
	finished("c-3", 2<<20) // 5 MiB held, in tables of 9 MiB and more
	pass("c-3", "c-2")
	finished("c-4", 6<<20) // 11 MiB held: c-2 and c-3 go
	pass("c-4")
}
