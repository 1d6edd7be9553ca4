package hub

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/wire"

	"github.com/prometheus/client_golang/prometheus"
)

// newTestPersister returns a persister on a real SQLite file and a record
// of what each commit reported stored.
func newTestPersister(t *testing.T) (*persister, *sqlite.DB, *storedLog) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "persist.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var log storedLog
	return newPersister(st, slog.New(slog.DiscardHandler), newMetrics(prometheus.NewRegistry()), log.add), st, &log
}

type storedLog struct {
	mu  sync.Mutex
	end map[string]int64
}

func (l *storedLog) add(s stored) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.end == nil {
		l.end = make(map[string]int64)
	}
	for id, so := range s.output {
		l.end[id] = max(l.end[id], so.end)
	}
}

func (l *storedLog) storedEnd(id string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end[id]
}

func outputIDs(b *store.Batch) map[string]int {
	ids := make(map[string]int)
	if b != nil {
		for _, c := range b.Output {
			ids[c.CommandID] += len(c.Data)
		}
	}
	return ids
}

// TestPersisterHoldsSmallOutputUntilDue: a command's output waits for a
// row's worth of bytes or for its age limit, unless its state is being
// stored; a flush takes everything.
func TestPersisterHoldsSmallOutputUntilDue(t *testing.T) {
	p, _, _ := newTestPersister(t)
	logs := testLogs{}
	logs.add(t, p, "c-small", 0, []byte("hello\n"))
	logs.add(t, p, "c-small", 6, []byte("world\n"))
	logs.add(t, p, "c-row", 0, bytes.Repeat([]byte("x"), rowTarget)) // over any drawn target
	logs.add(t, p, "c-state", 0, []byte("bye\n"))
	p.addCommand(wire.Command{ID: "c-state", State: wire.StateExited})

	b, next := p.take(false)
	got := outputIDs(b)
	if got["c-row"] != rowTarget || got["c-state"] != 4 {
		t.Errorf("took %v; want c-row's row and c-state's output with its state", got)
	}
	if _, ok := got["c-small"]; ok {
		t.Errorf("took c-small's 12 bytes long before they were due")
	}
	if len(b.Commands) != 1 || b.Commands[0].ID != "c-state" {
		t.Errorf("took commands %+v; want c-state", b.Commands)
	}
	if wait := time.Until(next); wait < maxUnstoredAge/2-time.Second/10 || wait > maxUnstoredAge {
		t.Errorf("c-small falls due in %v; want between %v and %v", wait, maxUnstoredAge/2, maxUnstoredAge)
	}
	if p.dueBytes.Load() != 0 {
		t.Errorf("dueBytes %d after the due row was taken; want 0", p.dueBytes.Load())
	}

	b, _ = p.take(true)
	if got := outputIDs(b); len(got) != 1 || got["c-small"] != 12 || len(b.Output) != 1 {
		t.Errorf("a flush took %v in %d chunks; want c-small's 12 bytes in one", got, len(b.Output))
	}
	if b, next := p.take(false); b != nil || !next.IsZero() {
		t.Errorf("after a flush took %v, next due %v; want nothing", outputIDs(b), next)
	}
}

// TestPersisterDueBytesUrgeCommit: once commitBytes of output are due, a
// commit does not wait out the gap.
func TestPersisterDueBytesUrgeCommit(t *testing.T) {
	p, _, _ := newTestPersister(t)
	logs := testLogs{}
	row := bytes.Repeat([]byte("y"), maxChunkRow)
	var off int64
	for p.dueBytes.Load() < commitBytes {
		select {
		case <-p.now:
			t.Fatalf("urged at %d due bytes; want %d", p.dueBytes.Load(), commitBytes)
		default:
		}
		logs.add(t, p, "c-big", off, row)
		off += int64(len(row))
	}
	select {
	case <-p.now:
	default:
		t.Fatalf("%d due bytes and no urge", p.dueBytes.Load())
	}
	if b, _ := p.take(false); outputIDs(b)["c-big"] != int(off) || p.dueBytes.Load() != 0 {
		t.Errorf("took %v, %d due bytes left; want all %d bytes, none left", outputIDs(b), p.dueBytes.Load(), off)
	}
}

// TestPersisterStoresQuietOutput: the output of a command that goes quiet
// reaches the database by its age limit, and what is pending at shutdown
// is stored before run returns.
func TestPersisterStoresQuietOutput(t *testing.T) {
	p, st, log := newTestPersister(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.run(ctx) }()
	defer func() { cancel(); <-done }()

	logs := testLogs{}
	began := time.Now()
	logs.add(t, p, "c-quiet", 0, []byte("$ "))
	eventually(t, "the quiet command's prompt stored", func() bool { return log.storedEnd("c-quiet") == 2 })
	if waited := time.Since(began); waited < maxUnstoredAge/2-time.Second/10 {
		t.Errorf("2 bytes stored after %v; want them held about %v", waited, maxUnstoredAge/2)
	}
	assertStored(t, st, "c-quiet", "$ ")

	logs.add(t, p, "c-late", 0, []byte("last words"))
	cancel()
	<-done
	if got := log.storedEnd("c-late"); got != 10 {
		t.Fatalf("at shutdown stored c-late up to %d; want 10", got)
	}
	assertStored(t, st, "c-late", "last words")
}

func assertStored(t *testing.T, st *sqlite.DB, id, want string) {
	t.Helper()
	data, start, err := st.ReadOutput(context.Background(), id, 0, 1<<20)
	if err != nil || start != 0 || string(data) != want {
		t.Errorf("stored output of %s: %q from %d (%v); want %q from 0", id, data, start, err, want)
	}
}

// testLogs are output logs by command id, fed frames as an agent sends
// them.
type testLogs map[string]*outputLog

func (l testLogs) add(t *testing.T, p *persister, id string, off int64, data []byte) {
	t.Helper()
	o := l[id]
	if o == nil {
		o = newOutputLog(id, 0, 1<<20)
		l[id] = o
	}
	raw := wire.OutputFrame(id, off, data)
	f, err := wire.ParseFrame(raw)
	if err != nil {
		t.Fatal(err)
	}
	o.appendFrame(f, raw, p)
}
