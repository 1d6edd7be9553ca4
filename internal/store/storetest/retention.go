package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// EndedCommand is a command in a final state, created at T0+age and
// ended a minute later.
func EndedCommand(id string, state wire.CommandState, age time.Duration) wire.Command {
	c := LiveCommand(id, state, age)
	c.EndedAt = c.CreatedAt.Add(time.Minute)
	return c
}

func finishedIDs(t *testing.T, s store.Pruner, before time.Time, n int) []string {
	t.Helper()
	fs, err := s.Finished(context.Background(), before, n)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.ID
	}
	return out
}

// testRetentionFinished: only finished commands, oldest created first,
// created and ended before the cutoff.
func testRetentionFinished(t *testing.T, h Harness) {
	s := h.open(t)
	long := EndedCommand("c-long", wire.StateExited, 0)
	long.EndedAt = T0.Add(10 * time.Hour) // created first, ended last
	Apply(t, s, store.Batch{Commands: []wire.Command{
		EndedCommand("c-3", wire.StateTimedOut, 3*time.Hour),
		EndedCommand("c-1", wire.StateExited, time.Hour),
		LiveCommand("c-run", wire.StateRunning, 0),
		LiveCommand("c-queued", wire.StateQueued, 0),
		EndedCommand("c-2", wire.StateCanceled, 2*time.Hour),
		EndedCommand("c-lost", wire.StateLost, 4*time.Hour),
		long,
	}})
	if got, want := finishedIDs(t, s, time.Time{}, 100), []string{"c-long", "c-1", "c-2", "c-3", "c-lost"}; !slices.Equal(got, want) {
		t.Errorf("every finished command = %v, want %v", got, want)
	}
	if got, want := finishedIDs(t, s, time.Time{}, 2), []string{"c-long", "c-1"}; !slices.Equal(got, want) {
		t.Errorf("two finished commands = %v, want %v", got, want)
	}
	// c-2 ends at T0+2h1m: not before T0+2h30m's cutoff of T0+2h1m.
	if got, want := finishedIDs(t, s, T0.Add(2*time.Hour+time.Minute), 100), []string{"c-1"}; !slices.Equal(got, want) {
		t.Errorf("finished before T0+2h1m = %v, want %v", got, want)
	}
	fs, err := s.Finished(context.Background(), time.Time{}, 1)
	if err != nil || len(fs) != 1 || !fs[0].CreatedAt.Equal(T0) || !fs[0].EndedAt.Equal(long.EndedAt) || fs[0].AgentID != "a-1" {
		t.Errorf("Finished = %+v, %v; want c-long with its agent and times", fs, err)
	}
}

// testRetentionRemove: a command goes in bounded steps, output and
// timing first, and nothing of another command goes with it; a live
// command stays.
func testRetentionRemove(t *testing.T, h Harness) {
	s := h.open(t)
	ctx := context.Background()
	var spans [][2]int64
	for i := range int64(10) {
		spans = append(spans, [2]int64{i * 1000, (i + 1) * 1000})
	}
	Apply(t, s, store.Batch{
		Commands: []wire.Command{EndedCommand("c-old", wire.StateExited, 0), EndedCommand("c-keep", wire.StateExited, time.Hour),
			LiveCommand("c-run", wire.StateRunning, 0)},
		Output: slices.Concat(Chunks("c-old", spans...), Chunks("c-keep", [2]int64{0, 500}), Chunks("c-run", [2]int64{0, 700})),
		Timing: []store.TimingRow{TimingRow("c-old", 0, 4), TimingRow("c-old", 4, 4), TimingRow("c-keep", 0, 3)},
	})
	timingBytes := int64(len(TimingRow("c-old", 0, 4).Data) + len(TimingRow("c-old", 4, 4).Data))

	if _, err := s.RemoveStep(ctx, "c-run", 5); !errors.Is(err, store.ErrLive) {
		t.Fatalf("removing a running command: %v, want ErrLive", err)
	}
	var total store.Removed
	steps := 0
	for !total.Done {
		r, err := s.RemoveStep(ctx, "c-old", 3)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rows > 3 {
			t.Fatalf("a step of at most 3 rows removed %d", r.Rows)
		}
		total.Rows, total.Bytes, total.Done = total.Rows+r.Rows, total.Bytes+r.Bytes, r.Done
		if steps++; steps > 10 {
			t.Fatal("removal does not end")
		}
	}
	// 10 output rows, 2 timing rows, the command: 13 rows in 5 steps.
	if want := (store.Removed{Rows: 13, Bytes: 10000 + timingBytes, Done: true}); total != want || steps != 5 {
		t.Errorf("removed %+v in %d steps, want %+v in 5", total, steps, want)
	}
	if _, err := s.History(ctx, store.HistoryQuery{ID: "c-old"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("history of a removed command: %v, want ErrNotFound", err)
	}
	if data, _, err := s.ReadOutput(ctx, "c-old", 0, 1<<20); err != nil || len(data) != 0 {
		t.Errorf("output of a removed command: %d bytes, %v", len(data), err)
	}
	if rows, err := s.ReadTiming(ctx, "c-old", 0, store.TimingPage); err != nil || len(rows) != 0 {
		t.Errorf("timing of a removed command: %d rows, %v", len(rows), err)
	}
	for id, n := range map[string]int{"c-keep": 500, "c-run": 700} {
		if data, _, err := s.ReadOutput(ctx, id, 0, 1<<20); err != nil || len(data) != n {
			t.Errorf("output of %s: %d bytes, %v; want %d", id, len(data), err, n)
		}
	}
	if rows, err := s.ReadTiming(ctx, "c-keep", 0, store.TimingPage); err != nil || len(rows) != 1 {
		t.Errorf("timing of c-keep: %d rows, %v", len(rows), err)
	}
	if got := ids(history(t, s, store.HistoryQuery{})); !slices.Equal(got, []string{"c-keep", "c-run"}) {
		t.Errorf("history = %v, want c-keep and c-run", got)
	}
	// Rows of a command that is not stored (left by a crash, or stored
	// late) go the same way.
	Apply(t, s, store.Batch{Output: Chunks("c-gone", [2]int64{0, 10})})
	if r, err := s.RemoveStep(ctx, "c-gone", 5); err != nil || r != (store.Removed{Rows: 1, Bytes: 10, Done: true}) {
		t.Errorf("removing orphan rows: %+v, %v", r, err)
	}
}

// testRetentionEvents: old events go, oldest first, never the newest.
func testRetentionEvents(t *testing.T, h Harness) {
	s := h.open(t)
	ctx := context.Background()
	var events []store.Event
	for i := range 10 {
		events = append(events, store.Event{Seq: uint64(i + 1), At: T0.Add(time.Duration(i) * time.Minute), Kind: "command", Subject: "c"})
	}
	Apply(t, s, store.Batch{Events: events})
	if n, err := s.PruneEvents(ctx, T0.Add(5*time.Minute), 3); err != nil || n != 3 {
		t.Fatalf("pruned %d, %v; want 3 (the bound)", n, err)
	}
	if n, err := s.PruneEvents(ctx, T0.Add(5*time.Minute), 100); err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want the 2 left before the cutoff", n, err)
	}
	if n, err := s.PruneEvents(ctx, T0.Add(time.Hour), 100); err != nil || n != 4 {
		t.Fatalf("pruned %d, %v; want 4: all but the newest", n, err)
	}
	if got := Load(t, s).EventSeq; got != 10 {
		t.Errorf("event seq after pruning = %d, want 10", got)
	}
}

// Incompressible is n random bytes, which PostgreSQL's TOAST cannot
// compress as it does Pattern's.
func Incompressible(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return b
}

// testRetentionSpaceReused: removed rows' space is counted and reused:
// writing as much again after a removal (and Reclaim) takes little more
// room than the first time.
func testRetentionSpaceReused(t *testing.T, h Harness) {
	s := h.open(t)
	ctx := context.Background()
	write := func(id string) {
		Apply(t, s, store.Batch{Commands: []wire.Command{EndedCommand(id, wire.StateExited, 0)}})
		for i := range int64(32) {
			Apply(t, s, store.Batch{Output: []store.Chunk{{CommandID: id, Offset: i << 16, Data: Incompressible(1 << 16)}}})
		}
	}
	used := func() int64 {
		n, err := s.SpaceUsed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := used()
	written := s.Written()
	write("c-1")
	if got := s.Written() - written; got != 2<<20 {
		t.Errorf("Written grew by %d bytes for 2 MiB of output", got)
	}
	first := used()
	if first-before < 2<<20 {
		t.Fatalf("2 MiB of output grew the space used by %d bytes", first-before)
	}
	for done := false; !done; {
		r, err := s.RemoveStep(ctx, "c-1", 8)
		if err != nil {
			t.Fatal(err)
		}
		done = r.Done
	}
	for more := true; more; {
		var err error
		if more, err = s.Reclaim(ctx, 16); err != nil {
			t.Fatal(err)
		}
	}
	write("c-2")
	if second := used(); second-first > (first-before)/4 {
		t.Errorf("space used: %d empty, %d with 2 MiB, %d after removing them and writing 2 MiB again: not reused",
			before, first, second)
	}
}
