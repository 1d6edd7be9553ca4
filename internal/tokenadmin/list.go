package tokenadmin

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"switchboard/internal/safetext"
	"switchboard/internal/store"
)

// Entry is a token as listed: never its secret, with the agents it is
// bound to.
type Entry struct {
	store.Token
	Agents []store.AgentBinding
}

// List returns every token, revoked and expired ones included, by name.
func (a *Admin) List(ctx context.Context) ([]Entry, error) {
	toks, err := a.Store.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	bindings, err := a.Store.AgentBindings(ctx)
	if err != nil {
		return nil, err
	}
	byToken := map[string][]store.AgentBinding{}
	for _, b := range bindings {
		byToken[b.Token] = append(byToken[b.Token], b)
	}
	out := make([]Entry, len(toks))
	for i, t := range toks {
		out[i] = Entry{Token: t, Agents: byToken[t.Name]}
	}
	return out, nil
}

// WriteList prints entries as a table. Agent names come from agents, so
// every cell is escaped (see safetext).
func WriteList(w io.Writer, entries []Entry, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tEXPIRES\tSTATE\tAGENT\tSCOPE")
	for _, e := range entries {
		exp, state := "never", "valid"
		if !e.ExpiresAt.IsZero() {
			exp = e.ExpiresAt.Local().Format(time.DateTime)
		}
		switch {
		case !e.RevokedAt.IsZero():
			state = "revoked " + e.RevokedAt.Local().Format(time.DateTime)
		case !e.Valid(now):
			state = "expired"
		}
		agent, scope := "-", "-"
		if len(e.Agents) > 0 {
			agent = describeBindings(e.Agents)
		}
		if len(e.Scope) > 0 {
			scope = FormatLabels(e.Scope)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", safetext.Escape(e.Name), e.Role,
			e.CreatedAt.Local().Format(time.DateTime), exp, state, safetext.Escape(agent), safetext.Escape(scope))
	}
	return tw.Flush()
}

// describeBindings names each agent with its id, or says it has not
// connected yet.
func describeBindings(bs []store.AgentBinding) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		id := b.AgentID
		if id == "" {
			id = "not connected yet"
		}
		parts[i] = b.AgentName + " (" + id + ")"
	}
	return strings.Join(parts, ", ")
}

// FormatLabels writes labels as k=v pairs, sorted, comma-separated.
func FormatLabels(l map[string]string) string {
	keys := slices.Sorted(maps.Keys(l))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + l[k]
	}
	return strings.Join(parts, ",")
}
