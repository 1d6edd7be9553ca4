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

// Entry is a token as listed: never its secret, with the agents and the
// SSH keys it is bound to.
type Entry struct {
	store.Token
	Agents  []store.AgentBinding
	SSHKeys []store.SSHKey
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
	keys, err := a.Store.SSHKeys(ctx)
	if err != nil {
		return nil, err
	}
	byToken := map[string][]store.AgentBinding{}
	for _, b := range bindings {
		byToken[b.Token] = append(byToken[b.Token], b)
	}
	keysOf := map[string][]store.SSHKey{}
	for _, k := range keys {
		keysOf[k.Token] = append(keysOf[k.Token], k)
	}
	out := make([]Entry, len(toks))
	for i, t := range toks {
		out[i] = Entry{Token: t, Agents: byToken[t.Name], SSHKeys: keysOf[t.Name]}
	}
	return out, nil
}

// WriteList prints entries as a table. Agent names come from agents, so
// every cell is escaped (see safetext).
func WriteList(w io.Writer, entries []Entry, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tEXPIRES\tSTATE\tAGENT\tSCOPE\tSSH KEYS")
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
		agent, scope, keys := "-", "-", "-"
		if len(e.SSHKeys) > 0 {
			keys = describeKeys(e.SSHKeys)
		}
		if len(e.Agents) > 0 {
			agent = describeBindings(e.Agents)
		}
		if len(e.Scope) > 0 {
			scope = FormatLabels(e.Scope)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", safetext.Escape(e.Name), e.Role,
			e.CreatedAt.Local().Format(time.DateTime), exp, state, safetext.Escape(agent), safetext.Escape(scope), safetext.Escape(keys))
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

// describeKeys names each key by its fingerprint and comment.
func describeKeys(ks []store.SSHKey) string {
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = k.Fingerprint
		if f := strings.Fields(k.Key); len(f) > 2 {
			parts[i] += " (" + strings.Join(f[2:], " ") + ")"
		}
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
