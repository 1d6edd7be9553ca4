package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"switchboard/internal/status"
	"switchboard/internal/wire"
)

func agents(ctx context.Context, env Env, args []string) int {
	fs, c := newFlags("agents", env, "tui agents [--json]: list every agent the relay knows, with status.")
	asJSON := fs.Bool("json", false, "Print a JSON array instead of a table.")
	if code := parse(fs, args); code != nil {
		return *code
	}
	cl, err := c.dial(ctx, env)
	if err != nil {
		return fail(env, "agents: %v", err)
	}
	defer cl.Close()
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", a.Name, a.ID, status.Agent(a, false), a.Running,
			attentionCell(a.Attention, a.AttentionReason, a.AttentionSince), formatLabels(a.Labels), ago(a.LastSeen))
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cmd.ID, cmd.AgentName, status.Command(cmd, false),
			attentionCell(cmd.Attention, cmd.AttentionReason, cmd.AttentionSince),
			cmd.CreatedAt.Local().Format(time.DateTime), dur, CommandLine(cmd.CommandSpec), dash(cmd.Reason))
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
			dash(e.Remote), e.Action, dash(e.Subject), e.Result, e.Detail)
	}
	tw.Flush()
	return 0
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
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
