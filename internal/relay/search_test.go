package relay_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// searchAs sends a search and returns its result, or the error it got.
func searchAs(p *rawPeer, q wire.SearchQuery) (*wire.SearchResult, *wire.Error) {
	p.t.Helper()
	q.RequestID = "s"
	p.send(&q)
	for {
		m, err := p.next()
		if err != nil {
			p.t.Fatal(err)
		}
		switch m := m.(type) {
		case *wire.SearchResult:
			return m, nil
		case *wire.Error:
			return nil, m
		}
	}
}

func hitTexts(res *wire.SearchResult) []string {
	out := []string{}
	for _, h := range res.Hits {
		out = append(out, h.AgentName+": "+h.Text)
	}
	return out
}

// TestSearch: output two agents printed is found line by line once the
// indexer has it, newest first, with its command, offset and context;
// narrowed by agent, labels and time; paged; a scoped token finds only
// its agents' lines; bad queries and bounds get invalid_argument.
func TestSearch(t *testing.T) {
	r, admin := relaytest.StartAuth(t, relay.Config{})
	scoped := r.ScopedToken("ci-view", store.RoleViewer, map[string]string{"pool": "ci"})
	ci, e, _ := claimAgent(t, r, r.Token("ci-agent", store.RoleAgent, 0), "a-ci", "ci-1", wire.Strings{"pool": "ci"})
	if e != nil {
		t.Fatal(e)
	}
	prod, e, _ := claimAgent(t, r, r.Token("prod-agent", store.RoleAgent, 0), "a-prod", "prod-1", wire.Strings{"pool": "prod"})
	if e != nil {
		t.Fatal(e)
	}
	boss, _ := dashboardAs(t, r, admin)
	before := time.Now()
	run := func(agent *rawPeer, target, out string) string {
		t.Helper()
		boss.send(&wire.Run{RequestID: "r", Targets: one(target), CommandSpec: wire.CommandSpec{Shell: "make " + target}})
		id := expect[*wire.RunAccepted](boss).Commands[0].ID
		expect[*wire.Start](agent)
		agent.send(&wire.Started{CommandID: id, StartedAt: time.Now()})
		agent.sendOutput(id, 0, out[:7]) // lines cut across frames
		agent.sendOutput(id, 7, out[7:])
		code := 2
		agent.send(&wire.Exited{CommandID: id, State: wire.StateExited, ExitCode: &code, Offset: int64(len(out)), EndedAt: time.Now()})
		waitState(t, boss, id, wire.StateExited)
		return id
	}
	ciCmd := run(ci, "ci-1", "building\r\n\x1b[31mpanic: ci broke\x1b[0m\r\ngoroutine 1\r\nexit status 2")
	prodCmd := run(prod, "prod-1", "deploying\r\npanic: prod broke\r\n")

	relaytest.Eventually(t, 10*time.Second, "both commands indexed", func() bool {
		res, e := searchAs(boss, wire.SearchQuery{Query: "status"})
		return e == nil && len(res.Hits) == 1 && len(searchHits(t, boss, "deploying")) == 1
	})
	res, e := searchAs(boss, wire.SearchQuery{Query: "panic:", Context: 1})
	if e != nil {
		t.Fatal(e)
	}
	if got := hitTexts(res); strings.Join(got, "|") != "prod-1: panic: prod broke|ci-1: panic: ci broke" {
		t.Fatalf("panic: %q, want prod's then ci's (newest first)", got)
	}
	h := res.Hits[1]
	if h.CommandID != ciCmd || h.Command != "make ci-1" || h.AgentID != "a-ci" || h.Offset != 10 || h.Line != 1 ||
		h.CreatedAt.Before(before.Add(-time.Second)) || fmt.Sprint(h.Before, h.After) != "[building] [goroutine 1]" || res.Next != 0 {
		t.Fatalf("ci's hit: %+v, next %d", h, res.Next)
	}
	if res.Hits[0].CommandID != prodCmd {
		t.Fatalf("prod's hit: %+v", res.Hits[0])
	}

	for _, c := range []struct {
		q    wire.SearchQuery
		want string
	}{
		{wire.SearchQuery{Query: "panic", Agent: "ci-1"}, "ci-1: panic: ci broke"},
		{wire.SearchQuery{Query: "panic", Labels: wire.Strings{"pool": "prod"}}, "prod-1: panic: prod broke"},
		{wire.SearchQuery{Query: "panic", Since: time.Now().Add(time.Hour)}, ""},
		{wire.SearchQuery{Query: `"prod broke"`}, "prod-1: panic: prod broke"},
		{wire.SearchQuery{Query: `"broke prod"`}, ""},
		{wire.SearchQuery{Query: "31m"}, ""}, // an escape sequence's
	} {
		res, e := searchAs(boss, c.q)
		if e != nil || strings.Join(hitTexts(res), "|") != c.want {
			t.Errorf("search %+v: %v, %v; want %q", c.q, res, e, c.want)
		}
	}
	// Pages of one.
	first, _ := searchAs(boss, wire.SearchQuery{Query: "panic", Limit: 1})
	if len(first.Hits) != 1 || first.Next == 0 {
		t.Fatalf("first page: %+v", first)
	}
	second, _ := searchAs(boss, wire.SearchQuery{Query: "panic", Limit: 1, Before: first.Next})
	if got := hitTexts(second); len(got) != 1 || got[0] != "ci-1: panic: ci broke" {
		t.Fatalf("second page: %q", got)
	}

	// A token scoped to pool=ci finds only ci's lines.
	p, ce := dashboardAs(t, r, scoped)
	if ce != nil {
		t.Fatal(ce)
	}
	if res, e := searchAs(p, wire.SearchQuery{Query: "panic"}); e != nil || strings.Join(hitTexts(res), "|") != "ci-1: panic: ci broke" {
		t.Fatalf("scoped search: %v, %v", res, e)
	}
	if res, e := searchAs(p, wire.SearchQuery{Query: "deploying"}); e != nil || len(res.Hits) != 0 {
		t.Fatalf("scoped search of prod's line: %v, %v", res, e)
	}
	if _, e := searchAs(p, wire.SearchQuery{Query: "panic", Agent: "prod-1"}); e == nil || e.Code != wire.CodeNotFound {
		t.Fatalf("scoped search on prod-1: %+v", e)
	}

	for q, why := range map[*wire.SearchQuery]string{
		{Query: `"panic`}:             "not closed",
		{Query: ""}:                   "empty",
		{Query: ":::"}:                "no letters or digits",
		{Query: "x", Limit: 1001}:     "limit 1001",
		{Query: "x", Context: 11}:     "context 11",
		{Query: "x", Before: -1}:      "before -1",
		{Query: "x", Agent: "nobody"}: "no agent",
	} {
		_, e := searchAs(boss, *q)
		want := wire.CodeInvalidArgument
		if q.Agent != "" {
			want = wire.CodeNotFound
		}
		if e == nil || e.Code != want || !strings.Contains(e.Message, why) || e.RequestID != "s" {
			t.Errorf("search %+v: error %+v, want %s saying %q", *q, e, want, why)
		}
	}
}

func searchHits(t *testing.T, p *rawPeer, q string) []wire.SearchHit {
	t.Helper()
	res, e := searchAs(p, wire.SearchQuery{Query: q})
	if e != nil {
		t.Fatal(e)
	}
	return res.Hits
}
