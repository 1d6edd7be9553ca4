package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/internal/pgtest"
	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
	"switchboard/internal/store/storetest"
	"switchboard/internal/wire"
)

// TestQueriesUseIndexes keeps Load, History and ReadOutput off full table
// scans, which is what keeps them fast with gigabytes of output stored.
// The tables are small here, so sequential scans are switched off: a plan
// that still holds one has no index to use.
func TestQueriesUseIndexes(t *testing.T) {
	_, url := openTest(t)
	queries := map[string]struct {
		sql  string
		args []any
	}{
		"live":   {sql: selectLive},
		"recent": {sql: sqlrow.SelectRecent},
		"output": {sql: selectOutput, args: []any{"c-1", int64(10), int64(1000)}},
		"seq":    {sql: sqlrow.SelectEventSeq},
	}
	for name, q := range map[string]store.HistoryQuery{"history": {}, "history by agent": {AgentID: "a-1"}, "history by id": {ID: "c-1"}} {
		sql, args := sqlrow.History(q, dollar)
		queries[name] = struct {
			sql  string
			args []any
		}{sql, args}
	}
	conn := pgtest.Connect(t, url)
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			rows, _ := conn.Query(context.Background(), "EXPLAIN "+q.sql, q.args...)
			plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			if p := strings.Join(plan, "\n"); strings.Contains(p, "Seq Scan") {
				t.Fatalf("full scan in plan:\n%s", p)
			}
		})
	}
}

// TestReadsDuringWrite shows that a reader is not blocked by a write in
// progress: it sees the last committed state at once.
func TestReadsDuringWrite(t *testing.T) {
	s, url := openTest(t)
	storetest.Apply(t, s, store.Batch{Agents: []wire.Agent{storetest.FullAgent("a-1")}})
	conn := pgtest.Connect(t, url)
	defer conn.Close(context.Background())
	tx, err := conn.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(context.Background(), "DELETE FROM agents"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := s.Load(ctx)
	if err != nil || len(st.Agents) != 1 {
		t.Fatalf("Load during a write: %d agents (%v), want the committed 1", len(st.Agents), err)
	}
}

// TestEventsAreStored checks an event's columns, which no read of the
// store interface returns.
func TestEventsAreStored(t *testing.T) {
	s, _ := openTest(t)
	storetest.Apply(t, s, store.Batch{Events: []store.Event{
		{Seq: 1, At: storetest.T0, Kind: "agent", Subject: "a-1", Data: []byte(`{"x":1}`)},
	}})
	var (
		at   int64
		kind string
		data []byte
	)
	err := s.w.QueryRow(context.Background(), "SELECT at, kind, data FROM events WHERE seq = 1").Scan(&at, &kind, &data)
	if err != nil || at != storetest.T0.UnixNano() || kind != "agent" || string(data) != `{"x":1}` {
		t.Fatalf("event 1 = %v %q %q (%v)", at, kind, data, err)
	}
}
