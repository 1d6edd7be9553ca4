package sqlite

import (
	"bytes"
	"context"
	"testing"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// chunks is the output of command id in pieces [off, end), each holding
// pattern bytes.
func chunks(id string, spans ...[2]int64) []store.Chunk {
	var out []store.Chunk
	for _, s := range spans {
		out = append(out, store.Chunk{CommandID: id, Offset: s[0], Data: pattern(s[0], int(s[1]-s[0]))})
	}
	return out
}

func TestReadOutput(t *testing.T) {
	db := openTest(t)
	// Gaps at [30, 40) and [60, 100).
	stored := chunks("c-1", [2]int64{0, 10}, [2]int64{10, 25}, [2]int64{25, 30},
		[2]int64{40, 50}, [2]int64{50, 60}, [2]int64{100, 105})
	apply(t, db, store.Batch{Output: stored})
	apply(t, db, store.Batch{Output: chunks("c-2", [2]int64{0, 5})}) // a neighbour not to leak into c-1
	// Resending every chunk, and a chunk cut differently at a stored
	// offset, changes nothing.
	apply(t, db, store.Batch{Output: append(stored, chunks("c-1", [2]int64{10, 30})...)})

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
			data, start, err := db.ReadOutput(context.Background(), tt.id, tt.from, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			want := pattern(tt.wantStart, int(tt.wantEnd-tt.wantStart))
			if start != tt.wantStart || !bytes.Equal(data, want) {
				t.Fatalf("got %d bytes at %d, want [%d, %d)", len(data), start, tt.wantStart, tt.wantEnd)
			}
		})
	}
}

func TestReadOutputRejectsNoLimit(t *testing.T) {
	db := openTest(t)
	if _, _, err := db.ReadOutput(context.Background(), "c-1", 0, 0); err == nil {
		t.Fatal("limit 0 accepted")
	}
}

func TestReadOutputEveryByteValue(t *testing.T) {
	db := openTest(t)
	all := make([]byte, 0, 512)
	for i := range 512 {
		all = append(all, byte(i))
	}
	apply(t, db, store.Batch{Output: []store.Chunk{
		{CommandID: "c-1", Offset: 0, Data: all[:300]},
		{CommandID: "c-1", Offset: 300, Data: all[300:]},
	}})
	data, start, err := db.ReadOutput(context.Background(), "c-1", 0, 1<<20)
	if err != nil || start != 0 || !bytes.Equal(data, all) {
		t.Fatalf("read %d bytes at %d (%v); want the 512 written", len(data), start, err)
	}
}

func TestSpanTrimsOverlap(t *testing.T) {
	// Chunks cut differently by two sends may overlap; the bytes at an
	// offset are the same either way, and each must come out once.
	feed := chunks("c", [2]int64{0, 10}, [2]int64{5, 20}, [2]int64{8, 12}, [2]int64{20, 30})
	s := span{start: 3, end: 3, limit: 100}
	for _, c := range feed {
		if !s.add(c.Offset, c.Data) {
			t.Fatalf("stopped at chunk %d", c.Offset)
		}
	}
	if s.start != 3 || !bytes.Equal(s.buf, pattern(3, 27)) {
		t.Fatalf("got %d bytes at %d, want [3, 30)", len(s.buf), s.start)
	}
}

func TestResendCutDifferently(t *testing.T) {
	db := openTest(t)
	apply(t, db, store.Batch{
		Commands: []wire.Command{liveCommand("c-1", wire.StateRunning, 0)},
		Output:   chunks("c-1", [2]int64{0, 10}, [2]int64{10, 20}),
	})
	// A resend from 0 in one piece, and one cut shorter: only [20, 35) is new.
	apply(t, db, store.Batch{Output: chunks("c-1", [2]int64{0, 35}, [2]int64{0, 5})})

	data, start, err := db.ReadOutput(context.Background(), "c-1", 0, 1000)
	if err != nil || start != 0 || !bytes.Equal(data, pattern(0, 35)) {
		t.Fatalf("read %d bytes at %d (%v), want [0, 35)", len(data), start, err)
	}
	if got := load(t, db).Commands[0].OutputBytes; got != 35 {
		t.Fatalf("Load: output end %d, want 35", got)
	}
	var rows int
	if err := db.r.QueryRow("SELECT count(*) FROM output").Scan(&rows); err != nil || rows != 3 {
		t.Fatalf("%d chunks stored (%v), want 3: the two first and the new tail", rows, err)
	}
}
