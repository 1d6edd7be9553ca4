package storetest

import (
	"context"
	"reflect"
	"testing"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// TimingRecords is n records of every kind, numbered from first, each at
// a time and offset its number sets, the input ones holding every byte
// value.
func TimingRecords(first uint64, n int) []wire.TimingRecord {
	recs := make([]wire.TimingRecord, n)
	for i := range recs {
		seq := first + uint64(i)
		r := wire.TimingRecord{Seq: seq, TimeMS: int64(seq) * 7, Offset: int64(seq) * 100, Kind: byte(seq % 3)}
		switch r.Kind {
		case wire.TimingResize:
			r.Cols, r.Rows = 80+int(seq), 24+int(seq)
		case wire.TimingInput:
			r.Data = Pattern(int64(seq), 300)
		}
		recs[i] = r
	}
	return recs
}

// TimingRow is records [first, first+n) of TimingRecords as one row.
func TimingRow(id string, first uint64, n int) store.TimingRow {
	return store.TimingRow{CommandID: id, Seq: first, Data: wire.AppendTimingSection(nil, TimingRecords(first, n))}
}

// readTiming reads every record of a command from from on.
func readTiming(t *testing.T, s store.Store, id string, from uint64) []wire.TimingRecord {
	t.Helper()
	var out []wire.TimingRecord
	for {
		rows, err := s.ReadTiming(context.Background(), id, from, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			return out
		}
		next, err := store.EachRecord(rows, from, func(r wire.TimingRecord) bool {
			r.Data = append([]byte(nil), r.Data...)
			out = append(out, r)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if next == from {
			t.Fatalf("reading from record %d returned rows but no record", from)
		}
		from = next
	}
}

func wantTiming(t *testing.T, got []wire.TimingRecord, first uint64, n int) {
	t.Helper()
	want := TimingRecords(first, n)
	if n == 0 {
		want = nil
	}
	for i := range want {
		if want[i].Data == nil {
			want[i].Data = nil
		}
	}
	if !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Fatalf("got %d records %v…, want [%d, %d)", len(got), seqs(got), first, first+uint64(n))
	}
}

func normalize(recs []wire.TimingRecord) []wire.TimingRecord {
	for i := range recs {
		if len(recs[i].Data) == 0 {
			recs[i].Data = nil
		}
	}
	return recs
}

func seqs(recs []wire.TimingRecord) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

// testTiming: timing rows read back record for record, across rows and
// pages; a row resent cut longer keeps its tail; rows that overlap (an
// agent resending to a restarted relay) give each record once.
func testTiming(t *testing.T, h Harness) {
	s := h.open(t)
	Apply(t, s, store.Batch{Output: Chunks("c-1", [2]int64{0, 10}),
		Timing: []store.TimingRow{TimingRow("c-1", 0, 5), TimingRow("c-2", 0, 2)}})
	Apply(t, s, store.Batch{Timing: []store.TimingRow{TimingRow("c-1", 5, 3)}})
	wantTiming(t, readTiming(t, s, "c-1", 0), 0, 8)
	wantTiming(t, readTiming(t, s, "c-1", 6), 6, 2)
	wantTiming(t, readTiming(t, s, "c-2", 0), 0, 2)

	// The first row resent, longer: records 8 and 9 are new.
	Apply(t, s, store.Batch{Timing: []store.TimingRow{TimingRow("c-1", 0, 10)}})
	wantTiming(t, readTiming(t, s, "c-1", 0), 0, 10)
	// An overlapping row, as a restarted relay stores what an agent resent.
	Apply(t, s, store.Batch{Timing: []store.TimingRow{TimingRow("c-1", 3, 10)}})
	wantTiming(t, readTiming(t, s, "c-1", 0), 0, 13)
	wantTiming(t, readTiming(t, s, "c-1", 11), 11, 2)
	// The same batch again changes nothing.
	Apply(t, s, store.Batch{Timing: []store.TimingRow{TimingRow("c-1", 3, 10), TimingRow("c-1", 0, 5)}})
	wantTiming(t, readTiming(t, s, "c-1", 0), 0, 13)

	wantTiming(t, readTiming(t, s, "c-1", 13), 0, 0)
	wantTiming(t, readTiming(t, s, "c-9", 0), 0, 0)
	rows, err := s.ReadTiming(context.Background(), "c-1", 0, 1)
	if err != nil || len(rows) != 1 {
		t.Fatalf("ReadTiming with max 1: %d rows, %v", len(rows), err)
	}
}
