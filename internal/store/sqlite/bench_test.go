package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// BenchmarkApplyOutput writes batches of 1000 output chunks spread over 10
// running commands, as the relay does under load.
func BenchmarkApplyOutput(b *testing.B) {
	for _, size := range []int{100, 4 << 10, 64 << 10} {
		for _, cancelable := range []bool{false, true} {
			b.Run(fmt.Sprintf("1000x%dB/cancelable=%v", size, cancelable), func(b *testing.B) {
				benchmarkApplyOutput(b, 1000, size, 10, cancelable)
			})
		}
	}
	// S1's commits: a row for each of 1,000 streams, each a different
	// place in the output index.
	b.Run("1000x2048B/commands=1000", func(b *testing.B) { benchmarkApplyOutput(b, 1000, 2048, 1000, false) })
}

func benchmarkApplyOutput(b *testing.B, perBatch, size, commands int, cancelable bool) {
	db := openTest(b)
	ctx := context.Background()
	if cancelable {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
	}
	ids := make([]string, commands)
	offs := make([]int64, len(ids))
	for i := range ids {
		ids[i] = wire.NewID("c")
	}
	data := pattern(0, size)
	batch := store.Batch{Output: make([]store.Chunk, perBatch)}
	b.SetBytes(int64(perBatch * size))
	n := 0
	for b.Loop() {
		for i := range batch.Output {
			c := i % len(ids)
			batch.Output[i] = store.Chunk{CommandID: ids[c], Offset: offs[c], Data: data}
			offs[c] += int64(size)
		}
		if err := db.Apply(ctx, &batch); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n*perBatch)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkLoad reads the startup state from a store with a long history:
// 50,000 commands, 300 MiB of output, 100 of the commands still running.
// Building it takes a while; set SWITCHBOARD_BENCH_DB to a path to keep the
// file between runs.
func BenchmarkLoad(b *testing.B) {
	path := os.Getenv("SWITCHBOARD_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "history.db")
	}
	db := openAt(b, path)
	if st := load(b, db); len(st.Recent) == 0 {
		start := time.Now()
		fillHistory(b, db, 50_000, 100, 6, 1<<10)
		b.Logf("built the history in %v", time.Since(start).Round(time.Millisecond))
	}
	b.Run("warm", func(b *testing.B) {
		for b.Loop() {
			if st := load(b, db); len(st.Commands) != 100 || len(st.Recent) != recentLimit {
				b.Fatalf("loaded %d live and %d recent commands", len(st.Commands), len(st.Recent))
			}
		}
	})
	b.Run("open+load", func(b *testing.B) {
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			db, err := Open(context.Background(), path)
			if err != nil {
				b.Fatal(err)
			}
			load(b, db)
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// fillHistory stores n commands, the last live of them running, each with
// chunks chunks of size bytes of output.
func fillHistory(b *testing.B, db *DB, n, live, chunks, size int) {
	data := pattern(0, size)
	var batch store.Batch
	for i := range n {
		c := fullCommand(fmt.Sprintf("c-%06d", i))
		c.CreatedAt = t0.Add(time.Duration(i) * time.Second)
		if i >= n-live {
			c.State, c.ExitCode = wire.StateRunning, nil
		}
		batch.Commands = append(batch.Commands, c)
		for j := range chunks {
			batch.Output = append(batch.Output, store.Chunk{CommandID: c.ID, Offset: int64(j * size), Data: data})
		}
		if len(batch.Output) >= 5000 || i == n-1 {
			apply(b, db, batch)
			batch.Reset()
		}
	}
}

// BenchmarkReadOutput replays a frame's worth (256 KiB) at a time from a
// command with 64 MiB of output in 4 KiB chunks, as a dashboard catching up
// does.
func BenchmarkReadOutput(b *testing.B) {
	db := openTest(b)
	const size, total, step = 4 << 10, 64 << 20, wire.MaxChunk
	var batch store.Batch
	for off := int64(0); off < total; off += size {
		batch.Output = append(batch.Output, store.Chunk{CommandID: "c-1", Offset: off, Data: pattern(off, size)})
	}
	apply(b, db, batch)
	b.SetBytes(step)
	from := int64(size / 2) // mid-chunk, as a resume usually is
	for b.Loop() {
		data, _, err := db.ReadOutput(context.Background(), "c-1", from, step)
		if err != nil || len(data) != step {
			b.Fatalf("read %d bytes (%v)", len(data), err)
		}
		from = (from + step) % (total - step)
	}
}
