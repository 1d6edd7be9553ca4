package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db := openAt(t, path)
	if st := load(t, db); len(st.Agents)+len(st.Commands)+len(st.Recent) != 0 || st.EventSeq != 0 {
		t.Fatalf("empty store loads %+v", st)
	}

	var final []wire.Command
	for i := range recentLimit + 20 {
		c := fullCommand(fmt.Sprintf("c-final-%03d", i))
		c.CreatedAt = t0.Add(time.Duration(i%50) * time.Second) // ties, broken by id
		final = append(final, c)
	}
	b := store.Batch{
		Agents: []wire.Agent{fullAgent("a-2"), fullAgent("a-1")},
		Commands: append([]wire.Command{
			liveCommand("c-queued", wire.StateQueued, 2*time.Hour),
			liveCommand("c-running", wire.StateRunning, time.Hour),
		}, final...),
		// c-running's output has a gap; its end is still the last byte.
		Output: chunks("c-running", [2]int64{0, 100}, [2]int64{200, 300}),
		Events: []store.Event{{Seq: 41, At: t0}, {Seq: 42, At: t0}},
	}
	apply(t, db, b)

	want := store.State{
		Agents:   []wire.Agent{fullAgent("a-1"), fullAgent("a-2")},
		Commands: []wire.Command{b.Commands[1], b.Commands[0]},
		Recent:   newestFirst(final)[:recentLimit],
		EventSeq: 42,
	}
	want.Commands[0].OutputBytes = 300
	assertState(t, load(t, db), want)

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	assertState(t, load(t, openAt(t, path)), want)
}

func newestFirst(cmds []wire.Command) []wire.Command {
	out := slices.Clone(cmds)
	slices.SortFunc(out, func(a, b wire.Command) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out
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

// TestQueriesUseIndexes keeps Load, History and ReadOutput off full table
// scans, which is what keeps them fast with gigabytes of output stored.
func TestQueriesUseIndexes(t *testing.T) {
	db := openTest(t)
	historyQueries := map[string]store.HistoryQuery{
		"history":          {},
		"history by agent": {AgentID: "a-1"},
		"history by id":    {ID: "c-1"},
	}
	queries := map[string]struct {
		sql  string
		args []any
	}{
		"live":   {sql: selectLive},
		"recent": {sql: selectRecent},
		"output": {sql: selectOutput, args: []any{"c-1", 10}},
		"seq":    {sql: selectEventSeq},
	}
	for name, q := range historyQueries {
		sql, args := historySQL(q)
		queries[name] = struct {
			sql  string
			args []any
		}{sql, args}
	}
	// "SCAN t" alone reads every row; "SCAN t USING INDEX" walks an index
	// in order and stops at the LIMIT.
	fullScan := regexp.MustCompile(`SCAN (\w+)$`)
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			plan := queryPlan(t, db, q.sql, q.args...)
			for _, line := range plan {
				if fullScan.MatchString(line) {
					t.Fatalf("full scan %q in plan:\n%s", line, strings.Join(plan, "\n"))
				}
			}
		})
	}
}

func queryPlan(t *testing.T, db *DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.r.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return plan
}

// TestReadsDuringWrite shows that a reader is not blocked by a write in
// progress: it sees the last committed state at once.
func TestReadsDuringWrite(t *testing.T) {
	db := openTest(t)
	apply(t, db, store.Batch{Agents: []wire.Agent{fullAgent("a-1")}})
	tx, err := db.w.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("DELETE FROM agents"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := db.Load(ctx)
	if err != nil || len(st.Agents) != 1 {
		t.Fatalf("Load during a write: %d agents (%v), want the committed 1", len(st.Agents), err)
	}
}

// TestConcurrentReadsAndApply is for -race, and checks that every read
// sees a whole batch or none of it.
func TestConcurrentReadsAndApply(t *testing.T) {
	db := openTest(t)
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
				if err := checkConsistent(db); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range batches {
		cmd := liveCommand("c-1", wire.StateRunning, 0)
		cmd.OutputBytes = int64((i + 1) * perB * chunk)
		var out []store.Chunk
		for j := range perB {
			off := int64((i*perB + j) * chunk)
			out = append(out, store.Chunk{CommandID: "c-1", Offset: off, Data: pattern(off, chunk)})
		}
		apply(t, db, store.Batch{Commands: []wire.Command{cmd}, Output: out,
			Events: []store.Event{{Seq: uint64(i + 1), At: t0}}})
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// checkConsistent reads the store as TestConcurrentReadsAndApply writes it:
// in each batch, the command's output_bytes, its output and the event seq
// move together.
func checkConsistent(db *DB) error {
	ctx := context.Background()
	st, err := db.Load(ctx)
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
	data, start, err := db.ReadOutput(ctx, "c-1", 0, 1<<30)
	if err != nil {
		return err
	}
	if start != 0 || len(data) < int(c.OutputBytes) || !bytes.Equal(data, pattern(0, len(data))) {
		return fmt.Errorf("read %d bytes at %d; want at least %d, all correct", len(data), start, c.OutputBytes)
	}
	if _, err := db.History(ctx, store.HistoryQuery{}); err != nil {
		return err
	}
	return nil
}
