package agent

import (
	"bytes"
	"slices"
	"testing"

	"switchboard/internal/wire"
)

// pattern returns n bytes whose value encodes their offset, so any slice
// of output can be checked against where it claims to come from.
func pattern(from, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((from + i) % 251)
	}
	return b
}

func TestOutBufferReadsAcrossChunks(t *testing.T) {
	var b outBuffer
	for off := 0; off < 100_000; off += 777 {
		b.append(pattern(off, 777))
	}
	for _, tt := range []struct{ from, limit int }{{0, 10}, {1000, 50_000}, {99_000, 1 << 20}, {99_900, 100}} {
		got := b.appendFrom(nil, int64(tt.from), tt.limit)
		want := pattern(tt.from, min(tt.limit, int(b.end)-tt.from))
		if !bytes.Equal(got, want) {
			t.Errorf("appendFrom(%d, %d): %d bytes, differs from the %d expected", tt.from, tt.limit, len(got), len(want))
		}
	}
}

func TestOutBufferAckFreesMemory(t *testing.T) {
	var b outBuffer
	b.append(pattern(0, 100_000))
	if freed := b.ack(60_000); freed != 60_000 || b.size() != 40_000 {
		t.Fatalf("ack freed %d, holds %d", freed, b.size())
	}
	if got := b.appendFrom(nil, 60_000, 10); !bytes.Equal(got, pattern(60_000, 10)) {
		t.Fatalf("after ack, offset 60000 reads %v", got)
	}
	if freed := b.ack(50_000); freed != 0 {
		t.Fatalf("a stale ack freed %d", freed)
	}
	b.ack(1 << 40) // beyond the end: everything
	if b.size() != 0 || b.chunks != nil || b.start != 100_000 {
		t.Fatalf("after a full ack: size %d, %d chunks, start %d", b.size(), len(b.chunks), b.start)
	}
}

func TestOutBufferDropsOldestAndRemembersRanges(t *testing.T) {
	var b outBuffer
	b.append(pattern(0, 1000))
	b.dropOldest(100)
	b.dropOldest(50) // contiguous: the same range grows
	if want := []span{{0, 150}}; !slices.Equal(b.drops, want) {
		t.Fatalf("drops %v, want %v", b.drops, want)
	}
	b.ack(300)                                       // the relay stored past the drops
	if _, newRange := b.dropOldest(100); !newRange { // [300, 400)
		t.Fatal("a drop after an ack did not start a new range")
	}
	if want := []span{{300, 400}}; !slices.Equal(b.drops, want) {
		t.Fatalf("drops %v, want %v (acked ranges are forgotten)", b.drops, want)
	}
	if got := b.lostIn(350, 1000); !slices.Equal(got, []span{{350, 400}}) {
		t.Fatalf("lostIn(350, 1000) = %v", got)
	}
	if got := b.appendFrom(nil, b.start, 5); !bytes.Equal(got, pattern(400, 5)) {
		t.Fatalf("oldest kept bytes %v", got)
	}
}

// newBareAgent is an agent that is never run, for testing its bookkeeping.
func newBareAgent(t *testing.T, budget int64) *Agent {
	log, _ := testLogger(t)
	a, err := New(Config{RelayURL: "ws://127.0.0.1:1", Name: "t", ID: "a-test", BufferBytes: budget, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestBufferBudgetDropsTheFloodersOldestBytes(t *testing.T) {
	const budget = minBufferBytes
	a := newBareAgent(t, budget)
	a.mu.Lock()
	quiet := a.addLocked(wire.Command{ID: "c-quiet"})
	loud := a.addLocked(wire.Command{ID: "c-loud"})
	a.mu.Unlock()

	a.output(quiet, pattern(0, 1000))
	for off := 0; off < 3*budget; off += 4096 {
		a.output(loud, pattern(off, 4096))
	}
	if a.buffered != budget {
		t.Fatalf("buffered %d, want the budget %d", a.buffered, budget)
	}
	if quiet.out.size() != 1000 || len(quiet.out.drops) != 0 {
		t.Fatalf("the quiet command lost output: holds %d, drops %v", quiet.out.size(), quiet.out.drops)
	}
	end := loud.out.end
	if want := []span{{0, end - (budget - 1000)}}; !slices.Equal(loud.out.drops, want) {
		t.Fatalf("loud drops %v, want %v", loud.out.drops, want)
	}
	if got := loud.out.appendFrom(nil, loud.out.start, 100); !bytes.Equal(got, pattern(int(loud.out.start), 100)) {
		t.Fatal("the bytes kept are not the newest")
	}
}

func TestBufferBudgetTakesFromTheLargestHolder(t *testing.T) {
	const budget = minBufferBytes
	a := newBareAgent(t, budget)
	a.mu.Lock()
	old := a.addLocked(wire.Command{ID: "c-old"})
	fresh := a.addLocked(wire.Command{ID: "c-new"})
	a.mu.Unlock()
	for off := 0; off < budget; off += 4096 {
		a.output(old, pattern(off, 4096))
	}
	a.output(fresh, pattern(0, 100))
	if a.buffered != budget || fresh.out.size() != 100 || old.out.size() != budget-100 {
		t.Fatalf("buffered %d, new holds %d, old holds %d", a.buffered, fresh.out.size(), old.out.size())
	}
}

func TestAckTrimsAndDoneForgets(t *testing.T) {
	a := newBareAgent(t, 0)
	a.mu.Lock()
	c := a.addLocked(wire.Command{ID: "c-1"})
	a.mu.Unlock()
	a.output(c, pattern(0, 10_000))
	a.ack(&wire.Ack{CommandID: "c-1", Offset: 6000})
	if a.buffered != 4000 || c.out.size() != 4000 {
		t.Fatalf("after ack: buffered %d, command holds %d", a.buffered, c.out.size())
	}
	a.ack(&wire.Ack{CommandID: "c-1", Offset: 6000, Done: true})
	if a.cmds["c-1"] == nil {
		t.Fatal("done for a running command forgot it")
	}
	a.finish(c, rejected("test"))
	a.ack(&wire.Ack{CommandID: "c-1", Offset: 10_000, Done: true})
	if a.cmds["c-1"] != nil || len(a.order) != 0 || a.buffered != 0 {
		t.Fatalf("after done: held %v, buffered %d", a.cmds, a.buffered)
	}
	a.start(wire.Command{ID: "c-1", CommandSpec: wire.CommandSpec{Shell: "true"}})
	if a.cmds["c-1"] != nil {
		t.Fatal("a late duplicate start of a done command ran it again")
	}
}
