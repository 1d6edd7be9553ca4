package hub

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"switchboard/internal/store"
	"switchboard/internal/wire"

	"github.com/prometheus/client_golang/prometheus"
)

// Stored output written a line at a time is merged in memory into a few
// large chunks, and reads back byte for byte; output not yet stored, and
// bytes on either side of a lost range, are left as they came.
func TestOutputLogCompactsStoredChunks(t *testing.T) {
	p := newPersister(discardStore{}, slog.New(slog.DiscardHandler), newMetrics(prometheus.NewRegistry()), func(stored) {})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.run(ctx)
	o := newOutputLog("c-1", 0, 1<<20)
	var want []byte
	add := func(n int) { want = append(want, appendLines(t, o, p, n)...) }
	add(3000)
	o.markStored(o.received-400, nil) // the last ten lines are not stored yet
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
	if got := readAllMem(t, o, 1000); !bytes.Equal(got, want) {
		t.Fatal("output read back from memory differs from what was written")
	}

	// A lost range: chunks on either side are never merged across it.
	o.skipOver(o.received, o.received+100)
	gapAt := o.received
	add(5)
	o.markStored(o.received, nil)
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

// Stored rows become the log's memory: each run of chunks a row covers is
// replaced by the row's own buffer, not copied again; a row that does not
// line up with the chunks is left to compaction; the bytes read back the
// same.
func TestOutputLogAdoptsStoredRows(t *testing.T) {
	p := newPersister(discardStore{}, slog.New(slog.DiscardHandler), newMetrics(prometheus.NewRegistry()), func(stored) {})
	o := newOutputLog("c-1", 0, 1<<20)
	want := appendLines(t, o, p, 2000)
	b, _ := p.take(true)
	rows := summarize(b).output["c-1"].rows
	if len(rows) < 2 {
		t.Fatalf("%d rows for 80 kB of output; want more than one", len(rows))
	}
	// The first row, cut short by a byte, no longer lines up with the
	// chunks: compaction takes care of those; the other rows are adopted.
	short := rows[0]
	short.Data = short.Data[:len(short.Data)-1]
	o.markStored(o.received, append([]store.Chunk{short}, rows[1:]...))

	o.mu.Lock()
	adopted := 0
	for _, c := range o.chunks {
		for _, r := range rows[1:] {
			if c.offset == r.Offset && &c.data[0] == &r.Data[0] {
				adopted++
			}
		}
		if &c.data[0] == &rows[0].Data[0] {
			t.Errorf("chunk at %d is the short row's buffer", c.offset)
		}
	}
	if adopted != len(rows)-1 {
		t.Errorf("%d of the %d rows that line up became the log's chunks", adopted, len(rows)-1)
	}
	o.mu.Unlock()
	if got := readAllMem(t, o, 4096); !bytes.Equal(got, want) {
		t.Fatal("output read back from adopted rows differs from what was written")
	}
}

// appendLines appends n lines of output to o, a frame each, as an agent
// would send them, and returns what they hold.
func appendLines(t *testing.T, o *outputLog, p *persister, n int) []byte {
	t.Helper()
	var sent []byte
	line := []byte("a line of output, as a build prints it\r\n")
	for range n {
		raw := wire.OutputFrame(o.id, o.received, line)
		f, err := wire.ParseFrame(raw)
		if err != nil {
			t.Fatal(err)
		}
		o.appendFrame(f, raw, p)
		sent = append(sent, line...)
	}
	return sent
}

// readAllMem reads o's output from memory, step bytes at a time.
func readAllMem(t *testing.T, o *outputLog, step int) []byte {
	t.Helper()
	var got []byte
	for from := int64(0); from < o.received; {
		data, start := o.readMem(from, step)
		if start != from || len(data) == 0 {
			t.Fatalf("read at %d: %d bytes from %d", from, len(data), start)
		}
		got = append(got, data...)
		from += int64(len(data))
	}
	return got
}
