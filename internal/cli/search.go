package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"switchboard/internal/flagenv"
	"switchboard/internal/wire"
)

const searchSynopsis = `tui search QUERY [--agent A] [--label k=v]... [--since D] [--limit N] [--context N] [--json]:
find lines of stored output, newest first. QUERY is words and "quoted phrases",
all of which a line must hold (letters and digits, any case; word* is a prefix).
Exits 0 when something matched, 1 when nothing did.`

// search prints the lines of stored output that match the query: a
// heading per hit (command, agent, time, offset, command line), then the
// line marked with > between its context lines.
func search(ctx context.Context, env Env, args []string) int {
	fs, c := newFlags("search", env, searchSynopsis)
	agent := fs.String("agent", "", "Only this agent's commands (name or id).")
	var labels flagenv.KeyValues
	fs.Var(&labels, "label", "Only commands of agents with this label, key=value. Repeatable; all must match.")
	since := fs.Duration("since", 0, "Only commands created within this long before now, e.g. 24h.")
	limit := fs.Int("limit", 20, "How many lines to print, at most 1000.")
	ctxLines := fs.Int("context", 2, "Lines to print before and after each match, at most 10.")
	asJSON := fs.Bool("json", false, "Print a JSON array of the hits instead.")
	words, code := parseInterleaved(fs, args)
	if code != nil {
		return *code
	}
	if len(words) == 0 {
		fmt.Fprintln(env.Stderr, "search: give a query, e.g. tui search 'panic:'")
		return ExitUsage
	}
	if *since < 0 {
		fmt.Fprintf(env.Stderr, "search: --since %v is negative\n", *since)
		return ExitUsage
	}
	q := wire.SearchQuery{Query: strings.Join(words, " "), Agent: *agent, Labels: wire.Strings(labels), Limit: *limit, Context: *ctxLines}
	if *since > 0 {
		q.Since = time.Now().Add(-*since)
	}
	cl, err := c.dial(ctx, env)
	if err != nil {
		return fail(env, "search: %v", err)
	}
	defer cl.Close()
	res, err := cl.Search(ctx, q)
	if err != nil {
		return fail(env, "search: %v", err)
	}
	if *asJSON {
		if code := printJSON(env, res.Hits); code != 0 {
			return code
		}
	} else {
		printHits(env, res.Hits)
	}
	if len(res.Hits) == 0 {
		return 1
	}
	return 0
}

func printHits(env Env, hits []wire.SearchHit) {
	for i, h := range hits {
		if i > 0 {
			fmt.Fprintln(env.Stdout)
		}
		fmt.Fprintf(env.Stdout, "%s  %s  %s  offset %d  line %d  %s\n", esc(h.CommandID), esc(h.AgentName),
			h.CreatedAt.Local().Format(time.DateTime), h.Offset, h.Line+1, esc(h.Command))
		for _, l := range h.Before {
			fmt.Fprintln(env.Stdout, "    "+esc(l))
		}
		fmt.Fprintln(env.Stdout, "  > "+esc(h.Text))
		for _, l := range h.After {
			fmt.Fprintln(env.Stdout, "    "+esc(l))
		}
	}
}
