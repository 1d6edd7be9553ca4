package relay

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"switchboard/internal/wire"
)

// Stored output written a line at a time is merged in memory into a few
// large chunks, and reads back byte for byte; output not yet stored, and
// bytes on either side of a lost range, are left as they came.
func TestOutputLogCompactsStoredChunks(t *testing.T) {
	p := newPersister(discardStore{}, slog.New(slog.DiscardHandler), newMetrics(), func(stored) {})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.run(ctx)
	o := newOutputLog("c-1", 0, 1<<20)
	var want []byte
	add := func(n int) {
		for range n {
			line := []byte("a line of output, as a build prints it\r\n")
			raw := wire.OutputFrame(o.id, o.received, line)
			f, err := wire.ParseFrame(raw)
			if err != nil {
				t.Fatal(err)
			}
			o.appendFrame(f, raw, p)
			want = append(want, line...)
		}
	}
	add(3000)
	o.markStored(o.received - 400) // the last ten lines are not stored yet
	add(10)
	o.mu.Lock()
	chunks, memBytes := len(o.chunks), o.memBytes
	unstored := 0
	for _, c := range o.chunks {
		if c.end() > o.stored && c.raw == nil {
			t.Error("a chunk that is not stored yet was merged")
		}
		if c.end() > o.stored {
			unstored++
		}
	}
	o.mu.Unlock()
	if chunks > 2+20 || unstored != 20 {
		t.Errorf("%d chunks after compaction (%d not stored); want a few merged ones and the 20 unstored", chunks, unstored)
	}
	if memBytes != len(want) {
		t.Errorf("memory holds %d bytes, want %d", memBytes, len(want))
	}
	var got []byte
	for from := int64(0); from < o.received; {
		data, start := o.readMem(from, 1000)
		if start != from || len(data) == 0 {
			t.Fatalf("read at %d: %d bytes from %d", from, len(data), start)
		}
		got = append(got, data...)
		from += int64(len(data))
	}
	if !bytes.Equal(got, want) {
		t.Fatal("output read back from memory differs from what was written")
	}

	// A lost range: chunks on either side are never merged across it.
	o.skipOver(o.received, o.received+100)
	gapAt := o.received
	add(5)
	o.markStored(o.received)
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := 1; i < len(o.chunks); i++ {
		if prev, c := o.chunks[i-1], o.chunks[i]; c.offset < prev.end() {
			t.Fatalf("chunks overlap: %d..%d then %d", prev.offset, prev.end(), c.offset)
		}
	}
	found := false
	for _, c := range o.chunks {
		found = found || c.offset == gapAt
	}
	if !found {
		t.Errorf("no chunk starts after the lost range at %d", gapAt)
	}
}
