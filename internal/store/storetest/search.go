package storetest

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// IndexAll indexes the stored output of the commands as the hub's indexer
// does: from each one's cursor, the rest as a last line when final.
func IndexAll(t testing.TB, s interface {
	store.Store
	store.Search
}) {
	t.Helper()
	ctx := context.Background()
	backlog, err := s.IndexBacklog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sortCursors(backlog) // so that lines are indexed in one order
	var us []store.IndexUpdate
	for _, c := range backlog {
		data, start, err := s.ReadOutput(ctx, c.CommandID, c.Off, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		lines, off, n := store.NextLines(data, start, c.Line, c.Final)
		c.Off, c.Line, c.Done = off, n, c.Final
		us = append(us, store.IndexUpdate{Lines: lines, Cursor: c})
	}
	if err := s.Index(ctx, us); err != nil {
		t.Fatal(err)
	}
}

func search(t *testing.T, s Store, q string, f func(*store.SearchQuery)) []store.SearchHit {
	t.Helper()
	terms, err := store.ParseSearch(q)
	if err != nil {
		t.Fatal(err)
	}
	sq := store.SearchQuery{Terms: terms}
	if f != nil {
		f(&sq)
	}
	hits, err := s.Search(context.Background(), sq)
	if err != nil {
		t.Fatalf("search %q: %v", q, err)
	}
	return hits
}

func hitLines(hits []store.SearchHit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, fmt.Sprintf("%s:%d@%d %s", h.CommandID, h.Line, h.Offset, h.Text))
	}
	return out
}

func testSearch(t *testing.T, h Harness) {
	s := h.open(t)
	ctx := context.Background()
	a1, a2 := LiveCommand("c-1", wire.StateExited, 0), LiveCommand("c-2", wire.StateRunning, time.Hour)
	a1.AgentName, a2.AgentID, a2.AgentName = "build-1", "a-2", "build-2"
	// c-1's lines are cut across chunks and carry escapes; c-2 is running
	// and its last line is not ended yet.
	out1 := "\x1b[1mcompiling\x1b[0m main.go\r\n\r\nok   pkg/a\r\npanic: runtime err"
	out2 := "\x1b]0;title\x07starting\r\npanic: disk full\r\nstill runn"
	Apply(t, s, store.Batch{Commands: []wire.Command{a1, a2}, Output: []store.Chunk{
		{CommandID: "c-1", Offset: 0, Data: []byte(out1[:20])},
		{CommandID: "c-1", Offset: 20, Data: []byte(out1[20:] + "or\r\ngoroutine 1 [running]:\r\nexit status 2")},
		{CommandID: "c-2", Offset: 0, Data: []byte(out2)},
	}})
	backlog, err := s.IndexBacklog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.IndexCursor{{CommandID: "c-1", Final: true}, {CommandID: "c-2"}}
	if sortCursors(backlog); !reflect.DeepEqual(backlog, want) {
		t.Fatalf("backlog %+v, want %+v", backlog, want)
	}
	IndexAll(t, s)

	got := hitLines(search(t, s, "panic:", nil))
	wantHits := []string{"c-2:1@20 panic: disk full", "c-1:2@41 panic: runtime error"}
	if !reflect.DeepEqual(got, wantHits) {
		t.Fatalf("panic: hits %q, want %q (newest first)", got, wantHits)
	}
	if got := hitLines(search(t, s, "still", nil)); len(got) != 0 {
		t.Fatalf("a line not ended in a running command was indexed: %q", got)
	}
	if got := hitLines(search(t, s, "status", nil)); !reflect.DeepEqual(got, []string{"c-1:4@87 exit status 2"}) {
		t.Fatalf("a final command's last line: %q", got)
	}
	hits := search(t, s, "goroutine", func(q *store.SearchQuery) { q.Context = 2 })
	if len(hits) != 1 || !reflect.DeepEqual(hits[0].Before, []string{"ok   pkg/a", "panic: runtime error"}) ||
		!reflect.DeepEqual(hits[0].After, []string{"exit status 2"}) {
		t.Fatalf("context: %+v", hits)
	}
	if h := hits[0]; h.AgentID != "a-1" || h.AgentName != "build-1" || !h.CreatedAt.Equal(a1.CreatedAt) || h.Command != "true" {
		t.Fatalf("hit's command fields: %+v", h)
	}
	for q, want := range map[string][]string{
		`"runtime error"`: {"c-1:2@41 panic: runtime error"},
		`"error runtime"`: {},
		`compil*`:         {"c-1:0@0 compiling main.go"},
		`compil`:          {},
		`pkg/a ok`:        {"c-1:1@29 ok   pkg/a"},
		`title`:           {}, // inside an OSC sequence
		`1m`:              {}, // inside a CSI sequence
	} {
		if got := hitLines(search(t, s, q, nil)); !reflect.DeepEqual(got, want) {
			t.Errorf("search %s: %q, want %q", q, got, want)
		}
	}
	agent2 := func(q *store.SearchQuery) { q.AgentIDs = []string{"a-2"} }
	if got := hitLines(search(t, s, "panic", agent2)); !reflect.DeepEqual(got, wantHits[:1]) {
		t.Fatalf("agent a-2: %q", got)
	}
	if got := search(t, s, "panic", func(q *store.SearchQuery) { q.AgentIDs = []string{} }); len(got) != 0 {
		t.Fatalf("no agents: %+v", got)
	}
	if got := hitLines(search(t, s, "panic", func(q *store.SearchQuery) { q.Since = a2.CreatedAt })); !reflect.DeepEqual(got, wantHits[:1]) {
		t.Fatalf("since c-2: %q", got)
	}
	first := search(t, s, "panic", func(q *store.SearchQuery) { q.Limit = 1 })
	next := search(t, s, "panic", func(q *store.SearchQuery) { q.Limit = 1; q.Before = first[0].Cursor })
	if got := hitLines(append(first, next...)); !reflect.DeepEqual(got, wantHits) {
		t.Fatalf("two pages of one: %q", got)
	}

	// c-2 goes on and ends: its line is completed and indexed once.
	a2.State = wire.StateExited
	Apply(t, s, store.Batch{Commands: []wire.Command{a2}, Output: []store.Chunk{{CommandID: "c-2", Offset: int64(len(out2)), Data: []byte("ing\r\n")}}})
	IndexAll(t, s)
	if got := hitLines(search(t, s, "running", nil)); !reflect.DeepEqual(got, []string{"c-2:2@38 still running", "c-1:3@63 goroutine 1 [running]:"}) {
		t.Fatalf("a line completed later: %q", got)
	}
	if backlog, err := s.IndexBacklog(ctx); err != nil || len(backlog) != 0 {
		t.Fatalf("backlog after both are indexed to their end: %+v, %v", backlog, err)
	}

	// Deleting a command's index removes its hits, and an update for a
	// command that is not stored writes nothing.
	if err := s.DeleteIndex(ctx, []string{"c-1"}); err != nil {
		t.Fatal(err)
	}
	if got := hitLines(search(t, s, "panic", nil)); !reflect.DeepEqual(got, wantHits[:1]) {
		t.Fatalf("after deleting c-1's index: %q", got)
	}
	ghost := store.IndexUpdate{Lines: []store.IndexLine{{Text: "panic ghost"}}, Cursor: store.IndexCursor{CommandID: "c-gone", Off: 12}}
	if err := s.Index(ctx, []store.IndexUpdate{ghost}); err != nil {
		t.Fatal(err)
	}
	if got := hitLines(search(t, s, "ghost", nil)); len(got) != 0 {
		t.Fatalf("lines of a command not stored: %q", got)
	}
}

func sortCursors(cs []store.IndexCursor) {
	for i := range cs {
		for j := i + 1; j < len(cs); j++ {
			if cs[j].CommandID < cs[i].CommandID {
				cs[i], cs[j] = cs[j], cs[i]
			}
		}
	}
}

// testSearchRemovedWithCommand: retention's removal of a command takes
// its lines out of the index, and its cursor, and leaves others'.
func testSearchRemovedWithCommand(t *testing.T, h Harness) {
	s := h.open(t)
	ctx := context.Background()
	var out strings.Builder
	for i := range 20 {
		fmt.Fprintf(&out, "needle %d\r\n", i)
	}
	Apply(t, s, store.Batch{Commands: []wire.Command{EndedCommand("c-old", wire.StateExited, 0), EndedCommand("c-keep", wire.StateExited, time.Hour)},
		Output: []store.Chunk{{CommandID: "c-old", Data: []byte(out.String())}, {CommandID: "c-keep", Data: []byte("needle kept\r\n")}}})
	IndexAll(t, s)
	IndexAll(t, s) // the pass that finds nothing more marks them done
	if got := len(search(t, s, "needle", nil)); got != 21 {
		t.Fatalf("%d hits before the removal, want 21", got)
	}
	for steps := 0; ; steps++ {
		r, err := s.RemoveStep(ctx, "c-old", 7)
		if err != nil {
			t.Fatal(err)
		}
		if r.Done {
			break
		}
		if steps > 20 {
			t.Fatal("removal does not end")
		}
	}
	if got := hitLines(search(t, s, "needle", nil)); !reflect.DeepEqual(got, []string{"c-keep:0@0 needle kept"}) {
		t.Fatalf("hits after c-old's removal: %q", got)
	}
	if backlog, err := s.IndexBacklog(ctx); err != nil || len(backlog) != 0 {
		t.Fatalf("backlog after the removal: %+v, %v", backlog, err)
	}
	// Hits join their command, so lines left behind would show only
	// under a command of the same id: store one again.
	Apply(t, s, store.Batch{Commands: []wire.Command{EndedCommand("c-old", wire.StateExited, 0)}})
	if got := hitLines(search(t, s, "needle", nil)); !reflect.DeepEqual(got, []string{"c-keep:0@0 needle kept"}) {
		t.Fatalf("lines of the removed c-old are still indexed: %q", got)
	}
	if backlog, err := s.IndexBacklog(ctx); err != nil || len(backlog) != 1 || backlog[0].Off != 0 {
		t.Fatalf("the removed c-old's cursor is still stored: %+v, %v", backlog, err)
	}
}

// testSearchLineByLine: the index keeps several lines per row, and a hit
// is still a line that holds every term itself; paging walks every hit
// once; indexing lines again from a cursor behind the stored one (another
// relay's indexer) adds no hit twice and moves no cursor back.
func testSearchLineByLine(t *testing.T, h Harness) {
	s := h.open(t)
	ctx := context.Background()
	var out strings.Builder
	for i := range 100 {
		fmt.Fprintf(&out, "needle %d alpha\r\nbeta %d gamma\r\n", i, i)
	}
	Apply(t, s, store.Batch{Commands: []wire.Command{EndedCommand("c-1", wire.StateExited, 0)},
		Output: []store.Chunk{{CommandID: "c-1", Data: []byte(out.String())}}})
	data, start, err := s.ReadOutput(ctx, "c-1", 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	lines, end, n := store.NextLines(data, start, 0, true)
	// Lines 0–79 first, then 60–199 again from a cursor left at 60.
	first := store.IndexUpdate{Lines: lines[:80], Cursor: store.IndexCursor{CommandID: "c-1", Off: lines[80].Off, Line: 80, Final: true}}
	stale := store.IndexUpdate{Lines: lines[60:], Cursor: store.IndexCursor{CommandID: "c-1", Off: end, Line: n, Final: true, Done: true}}
	behind := store.IndexUpdate{Lines: lines[100:150], Cursor: store.IndexCursor{CommandID: "c-1", Off: lines[150].Off, Line: 150, Final: true}}
	for _, u := range []store.IndexUpdate{first, stale, behind} {
		if err := s.Index(ctx, []store.IndexUpdate{u}); err != nil {
			t.Fatal(err)
		}
	}
	if backlog, err := s.IndexBacklog(ctx); err != nil || len(backlog) != 0 {
		t.Fatalf("a cursor moved back: backlog %+v, %v", backlog, err)
	}

	for q, want := range map[string]int{
		"needle":             100,
		"needle alpha":       100,
		"needle gamma":       0, // on neighbouring lines, never one
		`"alpha beta"`:       0, // a phrase across a line's end
		"beta gamma 7":       1,
		`"needle 4"* alpha`:  11, // 4, 40–49
		"alpha needle gamma": 0,
	} {
		if got := search(t, s, q, func(q *store.SearchQuery) { q.Limit = 1000 }); len(got) != want {
			t.Errorf("search %s: %d hits, want %d: %q", q, len(got), want, hitLines(got))
		}
	}

	// Pages of 7 walk the 100 lines of "needle" once each, newest (last)
	// first, though pages end inside blocks.
	var walked []string
	before := int64(0)
	for page := 0; ; page++ {
		hits := search(t, s, "needle", func(q *store.SearchQuery) { q.Limit = 7; q.Before = before })
		if len(hits) == 0 {
			break
		}
		if page > 20 {
			t.Fatal("paging does not end")
		}
		for _, h := range hits {
			walked = append(walked, h.Text)
		}
		before = hits[len(hits)-1].Cursor
	}
	if len(walked) != 100 || walked[0] != "needle 99 alpha" || walked[99] != "needle 0 alpha" {
		t.Fatalf("paging walked %d hits: %q", len(walked), walked)
	}
	for i, w := range walked {
		if want := fmt.Sprintf("needle %d alpha", 99-i); w != want {
			t.Fatalf("hit %d of the walk is %q, want %q", i, w, want)
		}
	}
	hits := search(t, s, `"gamma"`, func(q *store.SearchQuery) { q.Limit = 1; q.Context = 3 })
	if len(hits) != 1 || hits[0].Line != 199 || !reflect.DeepEqual(hits[0].Before, []string{"needle 98 alpha", "beta 98 gamma", "needle 99 alpha"}) || len(hits[0].After) != 0 {
		t.Fatalf("the last line with its context: %+v", hits)
	}
	if h := hits[0]; h.Offset != int64(len(out.String())-len("beta 99 gamma\r\n")) {
		t.Fatalf("the last line's offset is %d, want %d", h.Offset, len(out.String())-len("beta 99 gamma\r\n"))
	}
}

// testIndexConcurrently: two indexers of the same two commands at once
// (on PostgreSQL, two relays'), each from its own cursors in updates of its
// own size and taking the commands in its own order, index every line
// once, and neither waits on the other for ever.
func testIndexConcurrently(t *testing.T, h Harness) {
	s := h.open(t)
	ctx := context.Background()
	var out strings.Builder
	for i := range 300 {
		fmt.Fprintf(&out, "needle %d\r\n", i)
	}
	ids := []string{"c-1", "c-2"}
	for _, id := range ids {
		Apply(t, s, store.Batch{Commands: []wire.Command{EndedCommand(id, wire.StateExited, 0)},
			Output: []store.Chunk{{CommandID: id, Data: []byte(out.String())}}})
	}
	data, start, err := s.ReadOutput(ctx, "c-1", 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	lines, _, _ := store.NextLines(data, start, 0, true)
	errs := make(chan error, 2)
	for k, step := range []int{5, 13} {
		go func() {
			for i := 0; i < len(lines); i += step {
				j := min(i+step, len(lines))
				us := make([]store.IndexUpdate, len(ids))
				for n, id := range ids {
					c := store.IndexCursor{CommandID: id, Off: lines[j-1].Off + int64(len(lines[j-1].Text)) + 2, Line: int64(j), Final: true}
					us[(n+k)%len(us)] = store.IndexUpdate{Lines: lines[i:j], Cursor: c} // the second takes c-2 first
				}
				if err := s.Index(ctx, us); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	hits := search(t, s, "needle", func(q *store.SearchQuery) { q.Limit = 1000 })
	seen := map[string]bool{}
	for _, h := range hits {
		key := fmt.Sprintf("%s:%d", h.CommandID, h.Line)
		if seen[key] || h.Text != fmt.Sprintf("needle %d", h.Line) {
			t.Fatalf("hit %+v twice or wrong", h)
		}
		seen[key] = true
	}
	if len(seen) != 2*len(lines) {
		t.Fatalf("%d lines found of %d", len(seen), 2*len(lines))
	}
}

// testSearchPrefix: a search with a prefix term reads the newest blocks
// itself first and asks the text engine for the rest (sqlrow.SearchBlocks):
// hits beyond what it reads are found, in order and once each over pages,
// a prefix that every line holds, left to the line check, still narrows
// the hits, and a filter that the newest blocks fail does not hide older
// hits.
func testSearchPrefix(t *testing.T, h Harness) {
	s := h.open(t)
	var old, fill strings.Builder
	for i := range 100 {
		fmt.Fprintf(&old, "zebra %d", i)
		if i%2 == 0 {
			old.WriteString(" filler")
		}
		old.WriteString("\r\n")
	}
	for i := range 5000 {
		fmt.Fprintf(&fill, "filler %d\r\n", i)
	}
	for _, c := range []struct{ id, agent, out string }{{"c-old", "a-1", old.String()}, {"c-new", "a-2", fill.String()}} {
		cmd := EndedCommand(c.id, wire.StateExited, 0)
		cmd.AgentID = c.agent
		Apply(t, s, store.Batch{Commands: []wire.Command{cmd}, Output: []store.Chunk{{CommandID: c.id, Data: []byte(c.out)}}})
		IndexAll(t, s) // c-old first: c-new's 625 blocks are the newest
	}
	var walked []string
	before := int64(0)
	for page := 0; page < 10; page++ {
		hits := search(t, s, "zeb*", func(q *store.SearchQuery) { q.Limit = 30; q.Before = before })
		if len(hits) == 0 {
			break
		}
		for _, h := range hits {
			walked = append(walked, h.Text)
		}
		before = hits[len(hits)-1].Cursor
	}
	if len(walked) != 100 || walked[0] != "zebra 99" || walked[99] != "zebra 0 filler" {
		t.Fatalf("zeb* in pages of 30: %d hits, %q … %q", len(walked), walked[:min(1, len(walked))], walked[max(len(walked)-1, 0):])
	}
	if got := hitLines(search(t, s, "fill*", func(q *store.SearchQuery) { q.Limit = 2 })); !reflect.DeepEqual(got, []string{"c-new:4999@" + strconv.Itoa(fill.Len()-len("filler 4999\r\n")) + " filler 4999", "c-new:4998@" + strconv.Itoa(fill.Len()-len("filler 4999\r\nfiller 4998\r\n")) + " filler 4998"}) {
		t.Fatalf("fill*, the newest two: %q", got)
	}
	got := search(t, s, "zebra fill*", func(q *store.SearchQuery) { q.Limit = 1000 })
	if len(got) != 50 || got[0].Text != "zebra 98 filler" || got[49].Text != "zebra 0 filler" {
		t.Fatalf("zebra fill*: %d hits %q", len(got), hitLines(got))
	}
	// The newest blocks are all a-2's: a search of a-1's finds its own
	// below them.
	got = search(t, s, "fill*", func(q *store.SearchQuery) { q.Limit = 3; q.AgentIDs = []string{"a-1"} })
	if len(got) != 3 || got[0].Text != "zebra 98 filler" || got[2].Text != "zebra 94 filler" {
		t.Fatalf("fill* of a-1: %q", hitLines(got))
	}
}
