package storetest

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

func testReadOutput(t *testing.T, h Harness) {
	s := h.open(t)
	// Gaps at [30, 40) and [60, 100).
	stored := Chunks("c-1", [2]int64{0, 10}, [2]int64{10, 25}, [2]int64{25, 30},
		[2]int64{40, 50}, [2]int64{50, 60}, [2]int64{100, 105})
	Apply(t, s, store.Batch{Output: stored})
	Apply(t, s, store.Batch{Output: Chunks("c-2", [2]int64{0, 5})}) // a neighbour not to leak into c-1
	// Resending every chunk, and a chunk cut differently at a stored
	// offset, changes nothing.
	Apply(t, s, store.Batch{Output: append(stored, Chunks("c-1", [2]int64{10, 30})...)})

	tests := []struct {
		name      string
		id        string
		from      int64
		limit     int
		wantStart int64
		wantEnd   int64 // empty when wantEnd == wantStart
	}{
		{"from the start", "c-1", 0, 1000, 0, 30},
		{"one byte", "c-1", 0, 1, 0, 1},
		{"middle of a chunk", "c-1", 5, 1000, 5, 30},
		{"limit inside a chunk", "c-1", 12, 5, 12, 17},
		{"limit at a chunk end", "c-1", 10, 15, 10, 25},
		{"limit across chunks", "c-1", 8, 10, 8, 18},
		{"last byte before a gap", "c-1", 29, 1000, 29, 30},
		{"start of a gap", "c-1", 30, 1000, 40, 60},
		{"middle of a gap", "c-1", 35, 1000, 40, 60},
		{"gap longer than the limit", "c-1", 61, 3, 100, 103},
		{"after a gap", "c-1", 45, 1000, 45, 60},
		{"gap to the last chunk", "c-1", 60, 1000, 100, 105},
		{"past a gap, limited", "c-1", 60, 2, 100, 102},
		{"end of output", "c-1", 105, 1000, 105, 105},
		{"far past the end", "c-1", 1 << 40, 1000, 1 << 40, 1 << 40},
		{"another command", "c-2", 3, 1000, 3, 5},
		{"unknown command", "c-9", 0, 1000, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, start, err := s.ReadOutput(context.Background(), tt.id, tt.from, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			want := Pattern(tt.wantStart, int(tt.wantEnd-tt.wantStart))
			if start != tt.wantStart || !bytes.Equal(data, want) {
				t.Fatalf("got %d bytes at %d, want [%d, %d)", len(data), start, tt.wantStart, tt.wantEnd)
			}
		})
	}
}

func testReadOutputRejectsNoLimit(t *testing.T, h Harness) {
	s := h.open(t)
	if _, _, err := s.ReadOutput(context.Background(), "c-1", 0, 0); err == nil {
		t.Fatal("limit 0 accepted")
	}
}

func testReadOutputEveryByteValue(t *testing.T, h Harness) {
	s := h.open(t)
	all := make([]byte, 0, 512)
	for i := range 512 {
		all = append(all, byte(i))
	}
	Apply(t, s, store.Batch{Output: []store.Chunk{
		{CommandID: "c-1", Offset: 0, Data: all[:300]},
		{CommandID: "c-1", Offset: 300, Data: all[300:]},
	}})
	data, start, err := s.ReadOutput(context.Background(), "c-1", 0, 1<<20)
	if err != nil || start != 0 || !bytes.Equal(data, all) {
		t.Fatalf("read %d bytes at %d (%v); want the 512 written", len(data), start, err)
	}
}

// testReadOutputLongHistory replays a long output a frame at a time, from
// offsets inside chunks, as a dashboard catching up does, across a gap far
// longer than a frame.
func testReadOutputLongHistory(t *testing.T, h Harness) {
	s := h.open(t)
	const size, n = 4 << 10, 600
	var b store.Batch
	for i := range n {
		off := int64(i * size)
		if i >= n/2 {
			off += 10 * wire.MaxChunk // the agent lost 2.5 MiB here
		}
		b.Output = append(b.Output, store.Chunk{CommandID: "c-1", Offset: off, Data: Pattern(off, size)})
	}
	Apply(t, s, b)
	var (
		got  []byte
		from = int64(size / 2)
		gap  = int64(n / 2 * size)
	)
	for {
		data, start, err := s.ReadOutput(context.Background(), "c-1", from, wire.MaxChunk)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			break
		}
		if start != from && !(from == gap && start == gap+10*wire.MaxChunk) {
			t.Fatalf("read from %d started at %d", from, start)
		}
		if len(data) > wire.MaxChunk || !bytes.Equal(data, Pattern(start, len(data))) {
			t.Fatalf("read from %d: %d bytes, not the ones stored there", from, len(data))
		}
		got = append(got, data...)
		from = start + int64(len(data))
	}
	if want := n*size - size/2; len(got) != want {
		t.Fatalf("replayed %d bytes, want %d", len(got), want)
	}
}

func testResendCutDifferently(t *testing.T, h Harness) {
	s := h.open(t)
	Apply(t, s, store.Batch{
		Commands: []wire.Command{LiveCommand("c-1", wire.StateRunning, 0)},
		Output:   Chunks("c-1", [2]int64{0, 10}, [2]int64{10, 20}),
	})
	// A resend from 0 in one piece, and one cut shorter: only [20, 35) is
	// new. Then two longer resends in one batch, whose tails collide with
	// each other too: only [35, 45) is new.
	Apply(t, s, store.Batch{Output: Chunks("c-1", [2]int64{0, 35}, [2]int64{0, 5})})
	Apply(t, s, store.Batch{Output: Chunks("c-1", [2]int64{0, 40}, [2]int64{0, 45})})

	data, start, err := s.ReadOutput(context.Background(), "c-1", 0, 1000)
	if err != nil || start != 0 || !bytes.Equal(data, Pattern(0, 45)) {
		t.Fatalf("read %d bytes at %d (%v), want [0, 45)", len(data), start, err)
	}
	if got := Load(t, s).Commands[0].OutputBytes; got != 45 {
		t.Fatalf("Load: output end %d, want 45", got)
	}
}

// testReadOutputCanceledMidway cancels reads at every moment of their run,
// with a limit that ends them inside the stored output: each read must
// return, with its bytes or with the context's error, never hang.
func testReadOutputCanceledMidway(t *testing.T, h Harness) {
	s := h.open(t)
	var chunks [][2]int64
	for off := int64(0); off < 64*100; off += 100 {
		chunks = append(chunks, [2]int64{off, off + 100})
	}
	Apply(t, s, store.Batch{Output: Chunks("c-1", chunks...)})
	typical := timeRead(t, s)
	t.Logf("typical read %v", typical)
	for i := range 10000 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, _, err := s.ReadOutput(ctx, "c-1", 50, 250)
			done <- err
		}()
		// The read is most fragile at its end, after its last row.
		time.Sleep(typical/2 + time.Duration(rand.Int64N(int64(typical)+1)))
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("read %d canceled: %v, want its bytes or context.Canceled", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("read %d hung after its context was canceled", i)
		}
	}
}

// timeRead is how long one uncanceled read of the test's output takes.
func timeRead(t *testing.T, s store.Store) time.Duration {
	t.Helper()
	start := time.Now()
	const n = 50
	for range n {
		if _, _, err := s.ReadOutput(context.Background(), "c-1", 50, 250); err != nil {
			t.Fatal(err)
		}
	}
	return time.Since(start) / n
}
