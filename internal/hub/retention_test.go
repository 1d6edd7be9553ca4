package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/wire"
)

// watchedStore is a real SQLite store that notes when each batch and
// each removal step ran.
type watchedStore struct {
	*sqlite.DB
	mu      sync.Mutex
	applies []span // the persister's commits
	removes []span // retention's removal steps
	audit   []wire.AuditEntry
}

type span struct{ start, end time.Time }

func (s *watchedStore) Apply(ctx context.Context, b *store.Batch) error {
	start := time.Now()
	audit := slices.Clone(b.Audit)
	err := s.DB.Apply(ctx, b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.audit = append(s.audit, audit...)
		if len(b.Output) > 0 {
			s.applies = append(s.applies, span{start, time.Now()})
		}
	}
	return err
}

func (s *watchedStore) RemoveStep(ctx context.Context, id string, maxRows int) (store.Removed, error) {
	start := time.Now()
	r, err := s.DB.RemoveStep(ctx, id, maxRows)
	s.mu.Lock()
	s.removes = append(s.removes, span{start, time.Now()})
	s.mu.Unlock()
	return r, err
}

// retentionHub is a hub on a real SQLite file holding c-old, a finished
// command of rows×16 KiB of output that ended an hour ago, and c-live, a
// running command as old; its persister runs until the test ends.
func retentionHub(tb testing.TB, rows int, cfg Retention) (*Local, *watchedStore) {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "retention.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	st := &watchedStore{DB: db}
	hourAgo := time.Now().Add(-time.Hour)
	old := wire.Command{ID: "c-old", AgentID: "a-1", State: wire.StateExited, CreatedAt: hourAgo, EndedAt: hourAgo.Add(time.Second),
		OutputBytes: int64(rows) << 14}
	live := wire.Command{ID: "c-live", AgentID: "a-1", State: wire.StateRunning, CreatedAt: hourAgo}
	row := make([]byte, 16<<10)
	b := store.Batch{Commands: []wire.Command{old, live}, Output: []store.Chunk{{CommandID: "c-live", Data: []byte("still here")}}}
	for i := range rows {
		b.Output = append(b.Output, store.Chunk{CommandID: "c-old", Offset: int64(i) << 14, Data: row})
	}
	if err := db.Apply(ctx, &b); err != nil {
		tb.Fatal(err)
	}
	state, err := db.Load(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := New(Config{Logger: slog.New(slog.DiscardHandler), Retention: cfg}, st, state)
	if err != nil {
		tb.Fatal(err)
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); h.persist.run(pctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	return h, st
}

// streamWhile appends 100 B frames to a running command, a frame every
// millisecond, until work returns, and then waits until all of it is
// stored. It returns the command's id and how many bytes it streamed.
func streamWhile(tb testing.TB, h *Local, st store.Store, work func()) (string, int64) {
	tb.Helper()
	cs := h.newCommandState(wire.Command{ID: wire.NewID("c"), AgentID: "a-1", State: wire.StateRunning, CreatedAt: time.Now()})
	h.mu.Lock()
	h.commands[cs.cmd.ID] = cs
	h.mu.Unlock()
	stop := make(chan struct{})
	streamed := make(chan int64)
	go func() {
		data := []byte(strings.Repeat("x", 99) + "\n")
		var off int64
		for {
			select {
			case <-stop:
				streamed <- off
				return
			case <-time.After(time.Millisecond):
			}
			raw := wire.OutputFrame(cs.cmd.ID, off, data)
			f, _ := wire.ParseFrame(raw)
			cs.out.appendFrame(f, raw, h.persist)
			off = f.End()
		}
	}()
	work()
	close(stop)
	n := <-streamed
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _, err := st.ReadOutput(context.Background(), cs.cmd.ID, 0, 1<<24)
		if err != nil {
			tb.Fatal(err)
		}
		if int64(len(data)) == n {
			return cs.cmd.ID, n
		}
		if time.Now().After(deadline) {
			tb.Fatalf("stored %d of %d streamed bytes", len(data), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRetentionStreamsDuringRemoval: while a large finished command is
// removed, a step of 8 rows at a time, output streamed to a running
// command keeps being committed between the steps, and is all stored;
// the running command stays; the removal is audited and counted.
func TestRetentionStreamsDuringRemoval(t *testing.T) {
	h, st := retentionHub(t, 1024, Retention{Retain: time.Minute, StepRows: 8, Pause: 5 * time.Millisecond})
	var passErr error
	id, n := streamWhile(t, h, st, func() { passErr = h.retainer.pass(context.Background(), time.Now()) })
	if passErr != nil {
		t.Fatal(passErr)
	}
	if n == 0 {
		t.Fatal("nothing streamed")
	}
	ctx := context.Background()
	if _, err := st.History(ctx, store.HistoryQuery{ID: "c-old"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("c-old after retention: %v, want not found", err)
	}
	if data, _, err := st.ReadOutput(ctx, "c-live", 0, 100); err != nil || string(data) != "still here" {
		t.Errorf("c-live's output = %q, %v", data, err)
	}
	if _, err := h.Command(ctx, "c-old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the hub still has c-old: %v", err)
	}
	st.mu.Lock()
	removes, applies := slices.Clone(st.removes), slices.Clone(st.applies)
	st.mu.Unlock()
	// 1024 output rows and the command, 8 rows a step.
	if len(removes) != 129 {
		t.Errorf("%d removal steps, want 129", len(removes))
	}
	first, last := removes[0].start, removes[len(removes)-1].end
	during := 0
	for _, a := range applies {
		if a.start.After(first) && a.end.Before(last) {
			during++
		}
	}
	// Output-only commits are at least 200 ms apart; the removal takes
	// well over a second of steps and pauses.
	if during < 3 {
		t.Errorf("%d of the persister's %d commits of %s's %d bytes fell within the %v of removal steps; want them to go on",
			during, len(applies), id, n, last.Sub(first))
	}
	if got := counterValue(t, h.retainer.m.commands); got != 1 {
		t.Errorf("commands removed metric = %v, want 1", got)
	}
	if got := counterValue(t, h.retainer.m.bytes); got != 1024<<14 {
		t.Errorf("bytes removed metric = %v, want %d", got, 1024<<14)
	}
	e := waitAudit(t, st, "retention_remove")
	if !strings.Contains(e.Detail, "c-old") || e.Subject != "1 command" || e.Token != "relay" {
		t.Errorf("audit row %+v does not name c-old's removal", e)
	}
}

// waitAudit waits for the persister to store an audit row of action.
func waitAudit(t *testing.T, st *watchedStore, action string) wire.AuditEntry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st.mu.Lock()
		i := slices.IndexFunc(st.audit, func(e wire.AuditEntry) bool { return e.Action == action })
		var e wire.AuditEntry
		if i >= 0 {
			e = st.audit[i]
		}
		st.mu.Unlock()
		if i >= 0 {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s row in the audit trail", action)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestRetentionMaxSize: over the size limit, the oldest finished
// commands go until what they held makes up for the excess; newer ones
// and running ones stay, and the space used falls under the limit.
func TestRetentionMaxSize(t *testing.T) {
	h, st := retentionHub(t, 256, Retention{MaxSize: 3 << 20})
	ctx := context.Background()
	newer := wire.Command{ID: "c-newer", AgentID: "a-1", State: wire.StateExited, CreatedAt: time.Now().Add(-time.Minute), EndedAt: time.Now()}
	if err := st.DB.Apply(ctx, &store.Batch{Commands: []wire.Command{newer},
		Output: []store.Chunk{{CommandID: "c-newer", Data: make([]byte, 1<<20)}}}); err != nil {
		t.Fatal(err)
	}
	if used, err := st.SpaceUsed(ctx); err != nil || used < 5<<20 {
		t.Fatalf("space used %d, %v; want over 5 MiB", used, err)
	}
	if err := h.retainer.pass(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	got := history(t, st)
	if !slices.Equal(got, []string{"c-newer", "c-live"}) {
		t.Errorf("history after the pass = %v, want c-newer and c-live", got)
	}
	if used, err := st.SpaceUsed(ctx); err != nil || used > 3<<20 {
		t.Errorf("space used after the pass %d, %v; want under 3 MiB", used, err)
	}
	e := waitAudit(t, st, "retention_remove")
	if !strings.Contains(e.Detail, "c-old") || !strings.Contains(e.Detail, "--max-db-size") {
		t.Errorf("audit row %+v does not name c-old and the limit", e)
	}
	// Under the limit, a pass removes nothing.
	if err := h.retainer.pass(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := history(t, st); len(got) != 2 {
		t.Errorf("a pass under the limit left %v", got)
	}
}

func history(t *testing.T, st store.Store) []string {
	t.Helper()
	cmds, err := st.History(context.Background(), store.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range cmds {
		ids = append(ids, c.ID)
	}
	return ids
}

// TestRetentionMaxSizeCountsTheIndex: when each command's search index
// holds about as much as its output, a limit that three commands exceed
// by less than one command's share removes the oldest alone: what it
// freed counts its indexed text too.
func TestRetentionMaxSizeCountsTheIndex(t *testing.T) {
	h, st := retentionHub(t, 0, Retention{MaxSize: 1 << 40}) // set below
	ctx := context.Background()
	base, err := st.SpaceUsed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("x", 200) + " ok\r\n"
	out := []byte(strings.Repeat(line, 5000))
	var b store.Batch
	var ids []string
	for i := range 3 {
		at := time.Now().Add(time.Duration(i-30) * time.Minute)
		c := wire.Command{ID: fmt.Sprintf("c-%d", i), AgentID: "a-1", State: wire.StateExited, CreatedAt: at, EndedAt: at.Add(time.Second),
			OutputBytes: int64(len(out))}
		b.Commands = append(b.Commands, c)
		for off := 0; off < len(out); off += 64 << 10 {
			b.Output = append(b.Output, store.Chunk{CommandID: c.ID, Offset: int64(off), Data: out[off:min(off+64<<10, len(out))]})
		}
		ids = append(ids, c.ID)
	}
	if err := st.DB.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	indexAll(t, st.DB, ids)
	used, err := st.SpaceUsed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	per := (used - base) / 3
	if per < 2*int64(len(out)) {
		t.Fatalf("a command with its index takes %d bytes, want about twice its %d bytes of output", per, len(out))
	}
	h.retainer.cfg.MaxSize = base + per*24/10
	if err := h.retainer.pass(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := history(t, st); !slices.Equal(got, []string{"c-2", "c-1", "c-live"}) {
		t.Errorf("history after the pass = %v, want c-2, c-1 and c-live (the store was %d bytes, %d a command, over a limit of %d)",
			got, used, per, h.retainer.cfg.MaxSize)
	}
}
