package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/safetext"
	"switchboard/internal/status"
	"switchboard/internal/wire"
)

func agents(ctx context.Context, env Env, args []string) int {
	fs, c := newFlags("agents", env, `tui agents [list] [--json]: list every agent the relay knows, with status.
tui agents forget ID|NAME...: forget offline agents (admin tokens only): they
leave every dashboard and the store; their commands stay in history.`)
	asJSON := fs.Bool("json", false, "Print a JSON array instead of a table.")
	pos, code := parseInterleaved(fs, args)
	if code != nil {
		return *code
	}
	action := "list"
	if len(pos) > 0 {
		action, pos = pos[0], pos[1:]
	}
	if action != "list" && action != "forget" || action == "list" && len(pos) > 0 || action == "forget" && len(pos) == 0 {
		fmt.Fprintln(env.Stderr, "agents: give list, or forget and the agents' ids or names")
		return ExitUsage
	}
	cl, err := c.dial(ctx, env)
	if err != nil {
		return fail(env, "agents: %v", err)
	}
	defer cl.Close()
	if action == "forget" {
		return forgetAgents(ctx, env, cl, pos)
	}
	list := make([]wire.Agent, 0)
	for _, a := range cl.State().Agents {
		list = append(list, a)
	}
	slices.SortFunc(list, func(a, b wire.Agent) int {
		return strings.Compare(a.Name+"\x00"+a.ID, b.Name+"\x00"+b.ID)
	})
	if *asJSON {
		return printJSON(env, list)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tSTATUS\tRUNNING\tATTENTION\tLABELS\tLAST SEEN")
	for _, a := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", esc(a.Name), esc(a.ID), status.Agent(a, false), a.Running,
			esc(attentionCell(a.Attention, a.AttentionReason, a.AttentionSince)), esc(formatLabels(a.Labels)), ago(a.LastSeen))
	}
	tw.Flush()
	return 0
}

func history(ctx context.Context, env Env, args []string) int {
	fs, c := newFlags("history", env, "tui history [--agent NAME] [--limit N] [--json]: list commands, newest first.")
	agent := fs.String("agent", "", "Only this agent's commands (name or id).")
	limit := fs.Int("limit", 20, "How many commands to list, at most 1000.")
	asJSON := fs.Bool("json", false, "Print a JSON array instead of a table.")
	if code := parse(fs, args); code != nil {
		return *code
	}
	cl, err := c.dial(ctx, env)
	if err != nil {
		return fail(env, "history: %v", err)
	}
	defer cl.Close()
	cmds, err := cl.History(ctx, wire.HistoryQuery{Agent: *agent, Limit: *limit})
	if err != nil {
		return fail(env, "history: %v", err)
	}
	if *asJSON {
		return printJSON(env, cmds)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGENT\tSTATE\tATTENTION\tCREATED\tDURATION\tCOMMAND\tWHY")
	for _, cmd := range cmds {
		dur := "-"
		if cmd.State.Final() && cmd.DurationMS > 0 {
			dur = (time.Duration(cmd.DurationMS) * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", esc(cmd.ID), esc(cmd.AgentName), status.Command(cmd, false),
			esc(attentionCell(cmd.Attention, cmd.AttentionReason, cmd.AttentionSince)),
			cmd.CreatedAt.Local().Format(time.DateTime), dur, esc(cmd.CommandSpec.Line()), dash(cmd.Reason))
	}
	tw.Flush()
	return 0
}

func audit(ctx context.Context, env Env, args []string) int {
	fs, c := newFlags("audit", env, "tui audit [--limit N] [--json]: show the audit trail, newest first (admin tokens only).")
	limit := fs.Int("limit", 50, "How many entries, at most 1000.")
	asJSON := fs.Bool("json", false, "Print a JSON array instead of a table.")
	if code := parse(fs, args); code != nil {
		return *code
	}
	cl, err := c.dial(ctx, env)
	if err != nil {
		return fail(env, "audit: %v", err)
	}
	defer cl.Close()
	entries, err := cl.Audit(ctx, *limit)
	if err != nil {
		return fail(env, "audit: %v", err)
	}
	if *asJSON {
		return printJSON(env, entries)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tTOKEN\tROLE\tREMOTE\tACTION\tSUBJECT\tRESULT\tDETAIL")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format(time.DateTime), dash(e.Token), dash(e.Role),
			dash(e.Remote), esc(e.Action), dash(e.Subject), esc(e.Result), esc(e.Detail))
	}
	tw.Flush()
	return 0
}

// dash is s escaped for a table cell, or "-" when empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return esc(s)
}

// esc makes text from agents and dashboards safe to print on the user's
// terminal: a name, label or command line with escape sequences in it
// would otherwise set the clipboard, the window title or worse. JSON
// output is left exact.
func esc(s string) string { return safetext.Escape(s) }

// forgetAgents forgets each named agent, and says so.
func forgetAgents(ctx context.Context, env Env, cl *client.Client, names []string) int {
	code := 0
	for _, name := range names {
		id, err := cl.ForgetAgent(ctx, name)
		if err != nil {
			code = fail(env, "agents forget %s: %v", name, err)
			continue
		}
		fmt.Fprintf(env.Stdout, "forgot %s (%s)\n", esc(name), esc(id))
	}
	return code
}

// attentionCell shows an attention state in a table: waiting with what it
// asks, quiet with for how long.
func attentionCell(a wire.Attention, reason string, since time.Time) string {
	switch {
	case a == "":
		return "-"
	case a == wire.AttentionQuiet && !since.IsZero():
		return fmt.Sprintf("quiet %s", time.Since(since).Round(time.Second))
	case reason != "" && (a == wire.AttentionWaiting || a == wire.AttentionIdle):
		if r := []rune(reason); len(r) > 40 {
			reason = string(r[:39]) + "…"
		}
		return string(a) + ": " + reason
	}
	return string(a)
}
