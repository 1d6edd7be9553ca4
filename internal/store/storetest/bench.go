package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// Bench runs the store benchmarks against h's databases, each a
// sub-benchmark of b, so that every store is measured the same way.
func Bench(b *testing.B, h Harness) {
	b.Run("ApplyOutput", func(b *testing.B) { benchApplyOutput(b, h) })
	b.Run("Load", func(b *testing.B) { benchLoad(b, h) })
	b.Run("ReadOutput", func(b *testing.B) { benchReadOutput(b, h) })
}

// benchApplyOutput writes batches of 1000 output chunks spread over 10
// running commands, as the relay does under load.
func benchApplyOutput(b *testing.B, h Harness) {
	for _, size := range []int{100, 4 << 10, 64 << 10} {
		for _, cancelable := range []bool{false, true} {
			b.Run(fmt.Sprintf("1000x%dB/cancelable=%v", size, cancelable), func(b *testing.B) {
				applyOutput(b, h, 1000, size, 10, cancelable)
			})
		}
	}
	// S1's commits: a row for each of 1,000 streams, each a different
	// place in the output index.
	b.Run("1000x2048B/commands=1000", func(b *testing.B) { applyOutput(b, h, 1000, 2048, 1000, false) })
}

func applyOutput(b *testing.B, h Harness, perBatch, size, commands int, cancelable bool) {
	s := h.open(b)
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
	data := Pattern(0, size)
	batch := store.Batch{Output: make([]store.Chunk, perBatch)}
	b.SetBytes(int64(perBatch * size))
	n := 0
	for b.Loop() {
		for i := range batch.Output {
			c := i % len(ids)
			batch.Output[i] = store.Chunk{CommandID: ids[c], Offset: offs[c], Data: data}
			offs[c] += int64(size)
		}
		if err := s.Apply(ctx, &batch); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n*perBatch)/b.Elapsed().Seconds(), "rows/s")
}

// benchLoad reads the startup state from a store with a long history:
// 50,000 commands, 300 MiB of output, 100 of the commands still running.
func benchLoad(b *testing.B, h Harness) {
	open := h.New(b)
	s := open(b)
	start := time.Now()
	fillHistory(b, s, 50_000, 100, 6, 1<<10)
	b.Logf("built the history in %v", time.Since(start).Round(time.Millisecond))
	b.Run("warm", func(b *testing.B) {
		for b.Loop() {
			if st := Load(b, s); len(st.Commands) != 100 || len(st.Recent) != store.RecentLimit {
				b.Fatalf("loaded %d live and %d recent commands", len(st.Commands), len(st.Recent))
			}
		}
	})
	b.Run("open+load", func(b *testing.B) {
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			s := open(b)
			Load(b, s)
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// fillHistory stores n commands, the last live of them running, each with
// chunks chunks of size bytes of output.
func fillHistory(b *testing.B, s store.Store, n, live, chunks, size int) {
	data := Pattern(0, size)
	var batch store.Batch
	for i := range n {
		c := FullCommand(fmt.Sprintf("c-%06d", i))
		c.CreatedAt = T0.Add(time.Duration(i) * time.Second)
		if i >= n-live {
			c.State, c.ExitCode = wire.StateRunning, nil
		}
		batch.Commands = append(batch.Commands, c)
		for j := range chunks {
			batch.Output = append(batch.Output, store.Chunk{CommandID: c.ID, Offset: int64(j * size), Data: data})
		}
		if len(batch.Output) >= 5000 || i == n-1 {
			Apply(b, s, batch)
			batch.Reset()
		}
	}
}

// benchReadOutput replays a frame's worth (256 KiB) at a time from a
// command with 64 MiB of output in 4 KiB chunks, as a dashboard catching up
// does.
func benchReadOutput(b *testing.B, h Harness) {
	s := h.open(b)
	const size, total, step = 4 << 10, 64 << 20, wire.MaxChunk
	var batch store.Batch
	for off := int64(0); off < total; off += size {
		batch.Output = append(batch.Output, store.Chunk{CommandID: "c-1", Offset: off, Data: Pattern(off, size)})
	}
	Apply(b, s, batch)
	b.SetBytes(step)
	from := int64(size / 2) // mid-chunk, as a resume usually is
	for b.Loop() {
		data, _, err := s.ReadOutput(context.Background(), "c-1", from, step)
		if err != nil || len(data) != step {
			b.Fatalf("read %d bytes (%v)", len(data), err)
		}
		from = (from + step) % (total - step)
	}
}
