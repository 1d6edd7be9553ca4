package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

func testHistory(t *testing.T, h Harness) {
	s := h.open(t)
	var all []wire.Command
	for i := range 1100 {
		c := FullCommand(fmt.Sprintf("c-%04d", i))
		c.AgentID = fmt.Sprintf("a-%d", i%3)
		c.CreatedAt = T0.Add(time.Duration(i/2) * time.Millisecond) // pairs tie
		all = append(all, c)
	}
	Apply(t, s, store.Batch{Commands: all})
	all = newestFirst(all)
	ofAgent := slices.DeleteFunc(slices.Clone(all), func(c wire.Command) bool { return c.AgentID != "a-1" })
	ofTwo := slices.DeleteFunc(slices.Clone(all), func(c wire.Command) bool { return c.AgentID == "a-0" })
	one := all[slices.IndexFunc(all, func(c wire.Command) bool { return c.ID == "c-0007" })]

	tests := []struct {
		name string
		q    store.HistoryQuery
		want []wire.Command
	}{
		{"default limit", store.HistoryQuery{}, all[:50]},
		{"negative limit", store.HistoryQuery{Limit: -1}, all[:50]},
		{"limit", store.HistoryQuery{Limit: 3}, all[:3]},
		{"limit capped", store.HistoryQuery{Limit: 5000}, all[:1000]},
		{"one agent", store.HistoryQuery{AgentID: "a-1", Limit: 1000}, ofAgent},
		{"agent without commands", store.HistoryQuery{AgentID: "a-9"}, []wire.Command{}},
		{"one command", store.HistoryQuery{ID: "c-0007"}, []wire.Command{one}},
		{"one command of its agent", store.HistoryQuery{ID: "c-0007", AgentID: "a-1"}, []wire.Command{one}},
		{"some agents", store.HistoryQuery{AgentIDs: []string{"a-1", "a-2", "a-9"}, Limit: 20}, ofTwo[:20]},
		{"no agents", store.HistoryQuery{AgentIDs: []string{}}, []wire.Command{}},
		{"one command among some agents", store.HistoryQuery{ID: "c-0007", AgentIDs: []string{"a-1"}}, []wire.Command{one}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := history(t, s, tt.q); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %d: %v\nwant %d: %v", len(got), ids(got), len(tt.want), ids(tt.want))
			}
		})
	}
}

func testHistoryNotFound(t *testing.T, h Harness) {
	s := h.open(t)
	Apply(t, s, store.Batch{Commands: []wire.Command{FullCommand("c-1")}})
	for _, q := range []store.HistoryQuery{{ID: "c-2"}, {ID: "c-1", AgentID: "a-other"}} {
		if _, err := s.History(context.Background(), q); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("History(%+v) err = %v, want store.ErrNotFound", q, err)
		}
	}
}

// loadBatch is a history with agents, live and final commands, output
// with a gap, and events; loadWant is what Load must return for it.
func loadBatch() (store.Batch, store.State) {
	running := LiveCommand("c-running", wire.StateRunning, time.Hour)
	running.Attention, running.AttentionReason, running.AttentionSince, running.Title =
		wire.AttentionWaiting, "Name?", T0.Add(time.Hour+time.Minute), "read"
	var final []wire.Command
	for i := range store.RecentLimit + 20 {
		c := FullCommand(fmt.Sprintf("c-final-%03d", i))
		c.CreatedAt = T0.Add(time.Duration(i%50) * time.Second) // ties, broken by id
		final = append(final, c)
	}
	b := store.Batch{
		Agents: []wire.Agent{FullAgent("a-2"), FullAgent("a-1")},
		Commands: append([]wire.Command{
			LiveCommand("c-queued", wire.StateQueued, 2*time.Hour),
			running,
		}, final...),
		// c-running's output has a gap; its end is still the last byte.
		Output: Chunks("c-running", [2]int64{0, 100}, [2]int64{200, 300}),
		Events: []store.Event{{Seq: 41, At: T0}, {Seq: 42, At: T0}},
	}
	want := store.State{
		Agents:   []wire.Agent{FullAgent("a-1"), FullAgent("a-2")},
		Commands: []wire.Command{b.Commands[1], b.Commands[0]},
		Recent:   newestFirst(final)[:store.RecentLimit],
		EventSeq: 42,
	}
	want.Commands[0].OutputBytes = 300
	return b, want
}

func testLoad(t *testing.T, h Harness) {
	s := h.open(t)
	if st := Load(t, s); len(st.Agents)+len(st.Commands)+len(st.Recent) != 0 || st.EventSeq != 0 {
		t.Fatalf("empty store loads %+v", st)
	}
	b, want := loadBatch()
	Apply(t, s, b)
	assertState(t, Load(t, s), want)
}

// testLoadAfterRestart closes the store and opens the database again, as a
// restarted relay does: the queue (queued and running commands with their
// output ends), the recent commands, the event seq, output, tokens and
// audit are all there.
func testLoadAfterRestart(t *testing.T, h Harness) {
	open := h.New(t)
	s := open(t)
	b, want := loadBatch()
	b.Audit = []wire.AuditEntry{{At: T0, Token: "ops", Action: "run", Subject: "c-running", Result: "ok"}}
	Apply(t, s, b)
	tok := store.Token{Name: "ci", Role: store.RoleAgent, Hash: []byte{9}, CreatedAt: T0}
	if err := s.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t)
	assertState(t, Load(t, s), want)
	ctx := context.Background()
	data, start, err := s.ReadOutput(ctx, "c-running", 0, 1000)
	if err != nil || start != 0 || !bytes.Equal(data, Pattern(0, 100)) {
		t.Errorf("output after restart: %d bytes at %d (%v)", len(data), start, err)
	}
	toks, err := s.Tokens(ctx)
	if err != nil || len(toks) != 1 || toks[0].Name != "ci" || !toks[0].CreatedAt.Equal(T0) {
		t.Errorf("tokens after restart: %+v (%v)", toks, err)
	}
	audit, err := s.Audit(ctx, 10)
	if err != nil || len(audit) != 1 || audit[0] != b.Audit[0] {
		t.Errorf("audit after restart: %+v (%v)", audit, err)
	}
}

func assertState(t *testing.T, got, want store.State) {
	t.Helper()
	if !reflect.DeepEqual(got.Agents, want.Agents) {
		t.Errorf("Agents:\ngot  %+v\nwant %+v", got.Agents, want.Agents)
	}
	if !reflect.DeepEqual(got.Commands, want.Commands) {
		t.Errorf("Commands:\ngot  %+v\nwant %+v", got.Commands, want.Commands)
	}
	if !reflect.DeepEqual(got.Recent, want.Recent) {
		t.Errorf("Recent: got %v\nwant %v", ids(got.Recent), ids(want.Recent))
	}
	if got.EventSeq != want.EventSeq {
		t.Errorf("EventSeq = %d, want %d", got.EventSeq, want.EventSeq)
	}
}

// testConcurrentReadsAndApply is for -race, and checks that every read
// sees a whole batch or none of it.
func testConcurrentReadsAndApply(t *testing.T, h Harness) {
	s := h.open(t)
	const (
		batches = 40
		chunk   = 1000
		perB    = 10 // chunks per batch
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := checkConsistent(s); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range batches {
		cmd := LiveCommand("c-1", wire.StateRunning, 0)
		cmd.OutputBytes = int64((i + 1) * perB * chunk)
		var out []store.Chunk
		for j := range perB {
			off := int64((i*perB + j) * chunk)
			out = append(out, store.Chunk{CommandID: "c-1", Offset: off, Data: Pattern(off, chunk)})
		}
		Apply(t, s, store.Batch{Commands: []wire.Command{cmd}, Output: out,
			Events: []store.Event{{Seq: uint64(i + 1), At: T0}}})
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// checkConsistent reads the store as testConcurrentReadsAndApply writes it:
// in each batch, the command's output_bytes, its output and the event seq
// move together.
func checkConsistent(s store.Store) error {
	ctx := context.Background()
	st, err := s.Load(ctx)
	if err != nil {
		return err
	}
	if len(st.Commands) == 0 {
		return nil // before the first batch
	}
	c := st.Commands[0]
	if c.OutputBytes != int64(st.EventSeq)*10*1000 {
		return fmt.Errorf("load: output end %d with event seq %d", c.OutputBytes, st.EventSeq)
	}
	data, start, err := s.ReadOutput(ctx, "c-1", 0, 1<<30)
	if err != nil {
		return err
	}
	if start != 0 || len(data) < int(c.OutputBytes) || !bytes.Equal(data, Pattern(0, len(data))) {
		return fmt.Errorf("read %d bytes at %d; want at least %d, all correct", len(data), start, c.OutputBytes)
	}
	if _, err := s.History(ctx, store.HistoryQuery{}); err != nil {
		return err
	}
	return nil
}
