package sqlite

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
	"switchboard/internal/store/storetest"
	"switchboard/internal/wire"
)

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
		"recent": {sql: sqlrow.SelectRecent},
		"output": {sql: selectOutput, args: []any{"c-1", 10}},
		"seq":    {sql: sqlrow.SelectEventSeq},
		"timing": {sql: selectTiming, args: []any{"c-1", 10, 5}},
	}
	for name, q := range historyQueries {
		sql, args := sqlrow.History(q, question)
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
	storetest.Apply(t, db, store.Batch{Agents: []wire.Agent{storetest.FullAgent("a-1")}})
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
