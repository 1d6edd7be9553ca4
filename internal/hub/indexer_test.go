package hub

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/wire"
)

// indexerRun is an indexer on st running until the test ends or stop.
type indexerRun struct {
	x    *indexer
	reg  *prometheus.Registry
	stop func()
}

func startIndexer(t *testing.T, st indexStore) *indexerRun {
	t.Helper()
	reg := prometheus.NewRegistry()
	x := newIndexer(st, slog.New(slog.DiscardHandler), reg, 1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { x.run(ctx) })
	stop := sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(stop)
	return &indexerRun{x: x, reg: reg, stop: stop}
}

// openIndexDB is a fresh SQLite store for an indexer, closed when the
// test ends.
func openIndexDB(t *testing.T) *sqlite.DB {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func hits(t *testing.T, st store.Search, q string) []string {
	t.Helper()
	terms, err := store.ParseSearch(q)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := st.Search(context.Background(), store.SearchQuery{Terms: terms, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, h := range hs {
		out = append(out, h.CommandID+": "+h.Text)
	}
	return out
}

// TestIndexerFollowsCommits: output stored in pieces that cut lines and
// escapes is indexed line by line as commits report it, a running
// command's unfinished line only once it ends, and a restarted indexer
// resumes from the stored cursors without indexing a line twice.
func TestIndexerFollowsCommits(t *testing.T) {
	ctx := context.Background()
	st := openIndexDB(t)
	cmd := wire.Command{ID: "c-1", AgentID: "a-1", State: wire.StateRunning, CreatedAt: time.Now()}
	var text strings.Builder
	for i := range 300 {
		fmt.Fprintf(&text, "\x1b[32mline %d\x1b[0m of output\r\n", i)
	}
	out := []byte(text.String() + "no newline yet")
	commit := func(x *indexer, from, to int, c wire.Command) {
		t.Helper()
		b := store.Batch{Commands: []wire.Command{c}, Output: []store.Chunk{{CommandID: c.ID, Offset: int64(from), Data: out[from:to]}}}
		if err := st.Apply(ctx, &b); err != nil {
			t.Fatal(err)
		}
		s := stored{output: map[string]storedOutput{c.ID: {end: int64(to)}}}
		if c.State.Final() {
			c.OutputBytes = int64(len(out))
			s.final = []wire.Command{c}
		}
		x.noteStored(s)
	}
	r := startIndexer(t, st)
	commit(r.x, 0, 5000, cmd)
	eventually(t, "the first commit indexed", func() bool { return r.x.idle() })
	n := len(hits(t, st, "output"))
	if n == 0 || n >= 300 {
		t.Fatalf("%d lines indexed after the first 5000 bytes", n)
	}
	if b, s := r.x.lag(time.Now()); b != 0 || s != 0 {
		t.Fatalf("lag %d bytes, %v once idle", b, s)
	}
	r.stop()

	r = startIndexer(t, st) // a restarted relay: resumes from the cursor
	commit(r.x, 5000, len(out), cmd)
	eventually(t, "the rest indexed", func() bool { return r.x.idle() })
	if got := hits(t, st, "output"); len(got) != 300 {
		t.Fatalf("%d lines of 300 indexed after a restart", len(got))
	}
	if got := hits(t, st, `"line 299"`); len(got) != 1 || got[0] != "c-1: line 299 of output" {
		t.Fatalf("line 299: %q", got)
	}
	if got := hits(t, st, "newline"); len(got) != 0 {
		t.Fatalf("a running command's unfinished line was indexed: %q", got)
	}
	cmd.State = wire.StateExited
	commit(r.x, len(out), len(out), cmd)
	eventually(t, "the last line indexed", func() bool { return len(hits(t, st, "newline")) == 1 })
	eventually(t, "done", func() bool { return r.x.idle() })
	if backlog, err := st.IndexBacklog(ctx); err != nil || len(backlog) != 0 {
		t.Fatalf("backlog %+v, %v once the command is indexed to its end", backlog, err)
	}
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	lines := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "switchboard_search_indexed_lines_total" {
			lines = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if want := float64(300 - n + 1); lines != want {
		t.Fatalf("switchboard_search_indexed_lines_total %v after the restart, want %v", lines, want)
	}
}

// TestIndexerLag: output waiting for the indexer shows in the lag gauges
// until it is indexed.
func TestIndexerLag(t *testing.T) {
	ctx := context.Background()
	st := openIndexDB(t)
	x := newIndexer(st, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), 1)
	c := wire.Command{ID: "c-1", AgentID: "a-1", State: wire.StateRunning, CreatedAt: time.Now()}
	data := []byte(strings.Repeat("some words here\n", 1000))
	if err := st.Apply(ctx, &store.Batch{Commands: []wire.Command{c}, Output: []store.Chunk{{CommandID: "c-1", Data: data}}}); err != nil {
		t.Fatal(err)
	}
	x.noteStored(stored{output: map[string]storedOutput{"c-1": {end: int64(len(data))}}})
	time.Sleep(20 * time.Millisecond)
	if b, s := x.lag(time.Now()); b != int64(len(data)) || s < 20*time.Millisecond {
		t.Fatalf("lag %d bytes, %v before the indexer ran; want %d bytes, ≥ 20ms", b, s, len(data))
	}
	for !x.idle() {
		if err := x.step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if b, s := x.lag(time.Now()); b != 0 || s != 0 {
		t.Fatalf("lag %d bytes, %v once indexed", b, s)
	}
	if got := len(hits(t, st, "words")); got != 1000 {
		t.Fatalf("%d lines indexed, want 1000", got)
	}
}

// TestIndexerBatchIsBounded: with many commands waiting, one batch reads
// about indexBatchBytes in all, not a floor's worth from each command
// (64 commands × 8 KiB read 512 KiB a batch, one FTS5 insert of tens of
// milliseconds that held a CPU and SQLite's writer), and the commands
// left out are indexed by the batches after it.
func TestIndexerBatchIsBounded(t *testing.T) {
	ctx := context.Background()
	st := openIndexDB(t)
	x := newIndexer(st, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), 1)
	const commands = 64
	data := []byte(strings.Repeat("a line of forty bytes, give or take.\r\n", 16<<10/38))
	var b store.Batch
	s := stored{output: map[string]storedOutput{}}
	for i := range commands {
		id := fmt.Sprintf("c-%02d", i)
		b.Commands = append(b.Commands, wire.Command{ID: id, AgentID: "a-1", State: wire.StateRunning, CreatedAt: time.Now()})
		b.Output = append(b.Output, store.Chunk{CommandID: id, Data: data})
		s.output[id] = storedOutput{end: int64(len(data))}
	}
	if err := st.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	x.noteStored(s)
	if err := x.step(ctx); err != nil { // loads the backlog
		t.Fatal(err)
	}
	batches := 0
	for !x.idle() {
		before := counterValue(t, x.indexedBytes)
		if err := x.step(ctx); err != nil {
			t.Fatal(err)
		}
		batches++
		if n := counterValue(t, x.indexedBytes) - before; n > indexBatchBytes+2*store.MaxIndexLine {
			t.Fatalf("batch %d read %.0f bytes, over the bound %d", batches, n, indexBatchBytes+2*store.MaxIndexLine)
		}
	}
	if want := commands * len(data) / indexBatchBytes; batches < want {
		t.Fatalf("%d batches for %d bytes, want at least %d", batches, commands*len(data), want)
	}
	lines := strings.Count(string(data), "\n")
	if got := counterValue(t, x.indexedLines); got != float64(commands*lines) {
		t.Fatalf("%.0f lines indexed, want %d", got, commands*lines)
	}
}
