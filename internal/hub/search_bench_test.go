package hub

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/wire"
)

// benchWords are what generated output is made of: log-like lines of
// common words, paths and numbers; "panic" is rare (one line in 50,000).
var benchWords = func() []string {
	w := []string{"INFO", "WARN", "DEBUG", "compiling", "linking", "ok", "PASS", "build", "step", "worker", "cache", "hit", "miss",
		"fetch", "https://example.com/pkg", "src/main.go", "internal/hub/output.go", "done", "in", "ms", "bytes", "of", "the", "test"}
	for i := range 2000 {
		w = append(w, "word"+strconv.Itoa(i))
	}
	return w
}()

// benchOutput is about n bytes of output lines of about lineLen bytes,
// with terminal escapes and CRLF as a PTY has them.
func benchOutput(r *rand.Rand, n, lineLen int, line *int) []byte {
	out := make([]byte, 0, n+lineLen)
	for len(out) < n {
		*line++
		start := len(out)
		out = fmt.Appendf(out, "\x1b[32m%s\x1b[0m line %d:", benchWords[r.IntN(3)], *line)
		if *line%50000 == 0 {
			out = append(out, " panic: runtime error: index out of range"...)
		}
		for len(out)-start < lineLen-2 {
			out = append(out, ' ')
			out = append(out, benchWords[r.IntN(len(benchWords))]...)
		}
		out = append(out, "\r\n"...)
	}
	return out
}

// fillStore stores about total bytes of output of cmds final commands,
// in rows of 64 KiB as the persister writes them, and returns the ids.
func fillStore(b *testing.B, st *sqlite.DB, cmds, total, lineLen int) []string {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	per := total / cmds
	ids := make([]string, cmds)
	line := 0
	var batch store.Batch
	flush := func() {
		if err := st.Apply(ctx, &batch); err != nil {
			b.Fatal(err)
		}
		batch.Reset()
	}
	for i := range ids {
		ids[i] = fmt.Sprintf("c-%06d", i)
		out := benchOutput(r, per, lineLen, &line)
		c := wire.Command{ID: ids[i], AgentID: fmt.Sprintf("a-%d", i%100), AgentName: fmt.Sprintf("box-%d", i%100),
			CommandSpec: wire.CommandSpec{Shell: "make test"}, State: wire.StateExited,
			CreatedAt: time.Unix(1_700_000_000+int64(i), 0), OutputBytes: int64(len(out))}
		batch.Commands = append(batch.Commands, c)
		for off := 0; off < len(out); off += 64 << 10 {
			batch.Output = append(batch.Output, store.Chunk{CommandID: c.ID, Offset: int64(off), Data: out[off:min(off+64<<10, len(out))]})
		}
		if len(batch.Output) >= 64 {
			flush()
		}
	}
	flush()
	return ids
}

// indexAll runs the indexer over the commands' stored output until it is
// all indexed, as after the commits that stored it.
func indexAll(b testing.TB, st *sqlite.DB, ids []string) {
	x := newIndexer(st, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), 1)
	s := stored{output: map[string]storedOutput{}}
	for _, id := range ids {
		s.final = append(s.final, wire.Command{ID: id})
	}
	x.noteStored(s)
	for !x.idle() {
		if err := x.step(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIndexer: how fast the indexer turns stored output into index
// rows, for output shaped as S1's (100-byte lines, 1,000 commands), on a
// real SQLite file; MB/s is to be compared with S1's 10 MB/s of ingest.
// MB/cpu-s divides the output by the CPU time the process spent indexing
// it, which a machine shared with other work does not change as it does
// the wall-clock MB/s.
func BenchmarkIndexer(b *testing.B) {
	const total = 16 << 20
	b.SetBytes(total)
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "index.db"))
		if err != nil {
			b.Fatal(err)
		}
		ids := fillStore(b, st, 1000, total, 100)
		c0 := cpuTime()
		b.StartTimer()
		indexAll(b, st, ids)
		b.StopTimer()
		cpu += cpuTime() - c0
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(total)*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// searchBenchBytes is the output the search benchmark's store holds:
// SWITCHBOARD_BENCH_SEARCH_BYTES, default 1 GiB.
func searchBenchBytes(b *testing.B) int {
	if s := os.Getenv("SWITCHBOARD_BENCH_SEARCH_BYTES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 1 << 30
}

// searchBenchStore opens the search benchmark's store, building it the
// first time: var/bench/search-N.db at the top of the module, kept for
// later runs (building 1 GiB takes minutes), and indexing what its index
// lacks.
func searchBenchStore(b *testing.B) *sqlite.DB {
	total := searchBenchBytes(b)
	wd, _ := os.Getwd()
	dir := filepath.Join(wd, "..", "..", "var", "bench")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("search-%d.db", total))
	_, statErr := os.Stat(path)
	ready := statErr == nil
	if !ready {
		os.Remove(path)
		path += ".part"
		os.Remove(path)
	}
	st, err := sqlite.Open(context.Background(), path, sqlite.WithSync(sqlite.SyncNormal))
	if err != nil {
		b.Fatal(err)
	}
	if ready {
		// A store kept from before a migration that dropped the index
		// (0010_search_blocks) is indexed again first.
		indexAll(b, st, nil)
		return st
	}
	start := time.Now()
	ids := fillStore(b, st, 10000, total, 100)
	stored := time.Since(start)
	indexAll(b, st, ids)
	b.Logf("built %s: %d MiB of output stored in %v, indexed in %v (%.1f MB/s)", path, total>>20, stored.Round(time.Second),
		(time.Since(start) - stored).Round(time.Second), float64(total)/1e6/(time.Since(start)-stored).Seconds())
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	final := path[:len(path)-len(".part")]
	if err := os.Rename(path, final); err != nil {
		b.Fatal(err)
	}
	if st, err = sqlite.Open(context.Background(), final); err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkSearch: queries over the index of 1 GiB of stored output
// (searchBenchStore), 50 hits with 2 lines of context each, as tui search
// asks; p50-ms and p99-ms are per query.
func BenchmarkSearch(b *testing.B) {
	st := searchBenchStore(b)
	defer st.Close()
	for _, q := range []struct{ name, query string }{
		{"rare", "panic"},
		{"rare-phrase", `"index out of range"`},
		{"common", "compiling"},
		{"two-words", "word17 word1999"},
		{"prefix", "word12*"},
		{"rare-prefix", "pani*"},
		{"word-and-prefix", "panic word12*"},
		{"none", "nowhere"},
	} {
		b.Run(q.name, func(b *testing.B) {
			terms, err := store.ParseSearch(q.query)
			if err != nil {
				b.Fatal(err)
			}
			var took []time.Duration
			hits := 0
			for b.Loop() {
				t0 := time.Now()
				res, err := st.Search(context.Background(), store.SearchQuery{Terms: terms, Limit: 50, Context: 2})
				if err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(t0))
				hits = len(res)
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(hits), "hits")
		})
	}
}
