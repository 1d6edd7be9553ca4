// Package cli owns the scriptable subcommands of the tui program (agents,
// run, history, logs, cancel): each connects with the shared dashboard
// client, does one thing, prints plain text or JSON, and exits with a code
// a script can test.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/flagenv"
	"switchboard/internal/wire"
)

// Exit codes for outcomes that have no exit status of their own; they
// follow the shell's conventions where one exists.
const (
	ExitUsage    = 2
	ExitTimedOut = 124 // like timeout(1)
	ExitRejected = 127 // the command could not be started
	ExitCanceled = 130 // like a shell after ^C
	ExitLost     = 255
)

// Env is what a subcommand runs against.
type Env struct {
	Stdout, Stderr io.Writer
	Version        string
}

// Commands lists the subcommands by name.
var Commands = map[string]func(ctx context.Context, env Env, args []string) int{
	"agents":  agents,
	"run":     run,
	"history": history,
	"logs":    logs,
	"cancel":  cancel,
	"audit":   audit,
}

// Usage describes the subcommands.
const Usage = `Subcommands:
  agents  [--json]                         list agents
  run     [--agent NAME|ID]... [--label k=v]... [--timeout D] -- CMD [ARGS...]
                                           run a command and stream its output
  history [--agent NAME] [--limit N] [--json]
                                           list past and running commands
  logs    [--follow] COMMAND_ID             print a command's stored output
  cancel  COMMAND_ID                        stop a queued or running command
  audit   [--limit N] [--json]               the audit trail (admin tokens only)
Every subcommand takes --relay URL, --token or --token-file, and --ca
(environment SWITCHBOARD_RELAY, SWITCHBOARD_TOKEN, SWITCHBOARD_TOKEN_FILE,
SWITCHBOARD_CA).`

// common holds the flags every subcommand has.
type common struct {
	relay, token, tokenFile, ca string
}

func newFlags(name string, env Env, synopsis string) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	c := &common{}
	c.register(fs)
	fs.Usage = flagenv.Usage(fs, synopsis)
	return fs, c
}

// parse applies environment defaults and parses args; it returns a non-nil
// exit code when the caller should stop.
func parse(fs *flag.FlagSet, args []string) *int {
	code := 0
	if err := flagenv.Apply(fs); err != nil {
		fmt.Fprintln(fs.Output(), err)
		code = ExitUsage
		return &code
	}
	if err := fs.Parse(args); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			code = ExitUsage
		}
		return &code
	}
	return nil
}

// register defines the connection flags on fs.
func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.relay, "relay", "ws://127.0.0.1:8080", "Relay address, ws://HOST:PORT or wss://HOST:PORT.")
	fs.StringVar(&c.token, "token", "", "Access token. Prefer --token-file or the environment: a flag shows in ps.")
	fs.StringVar(&c.tokenFile, "token-file", "", "File holding the access token.")
	fs.StringVar(&c.ca, "ca", "", "PEM file of a certificate authority to trust for wss:// (besides the system's).")
}

// Config turns the connection flags into a client configuration.
func (c *common) Config(clientName string) (client.Config, error) {
	token, err := client.LoadToken(c.token, c.tokenFile)
	if err != nil {
		return client.Config{}, err
	}
	dialer, err := client.TLSDialer(c.ca)
	if err != nil {
		return client.Config{}, err
	}
	return client.Config{Relay: c.relay, Client: clientName, Token: token, Dialer: dialer}, nil
}

func (c *common) dial(ctx context.Context, env Env) (*client.Client, error) {
	cfg, err := c.Config("switchboard-cli/" + env.Version)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return client.Dial(dctx, cfg)
}

func fail(env Env, format string, args ...any) int {
	fmt.Fprintf(env.Stderr, format+"\n", args...)
	return 1
}

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
	fmt.Fprintln(tw, "NAME\tID\tSTATUS\tRUNNING\tLABELS\tLAST SEEN")
	for _, a := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", a.Name, a.ID, a.Status, a.Running, formatLabels(a.Labels), ago(a.LastSeen))
	}
	tw.Flush()
	return 0
}

func printJSON(env Env, v any) int {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fail(env, "write json: %v", err)
	}
	return 0
}

func formatLabels(l map[string]string) string {
	parts := make([]string, 0, len(l))
	for k, v := range l {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

// run starts a command on its targets and streams the output until every
// command has ended. ^C cancels the remote commands; a second ^C leaves.
func run(ctx context.Context, env Env, args []string) int {
	fs, c := newFlags("run", env, "tui run [--agent NAME|ID]... [--label k=v]... [--timeout D] -- CMD [ARGS...]: run a command on agents and stream its output.")
	var agentsFlag, labels, envs flagenv.Strings
	fs.Var(&agentsFlag, "agent", "Target agent, by name or id. Repeatable.")
	fs.Var(&labels, "label", "Target every agent with this label, key=value. Repeatable; all must match.")
	fs.Var(&envs, "env", "Environment variable for the command, KEY=VALUE. Repeatable.")
	timeout := fs.Duration("timeout", 0, "Stop the command after this long (e.g. 30s); 0 means no limit.")
	shell := fs.Bool("shell", false, "Run the arguments joined by spaces as one shell line (sh -c).")
	cwd := fs.String("cwd", "", "Working directory on the agent.")
	cols := fs.Int("cols", 80, "Terminal width the command sees.")
	rows := fs.Int("rows", 24, "Terminal height the command sees.")
	if code := parse(fs, args); code != nil {
		return *code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(env.Stderr, "run: give the command after --, e.g. tui run --agent build-1 -- make test")
		return ExitUsage
	}
	targets := wire.Targets{Agents: agentsFlag}
	if len(labels) > 0 {
		targets.Labels = map[string]string{}
		for _, l := range labels {
			k, v, ok := strings.Cut(l, "=")
			if !ok || k == "" {
				return fail(env, "run: --label %q: want key=value", l)
			}
			targets.Labels[k] = v
		}
	}
	if targets.Empty() {
		fmt.Fprintln(env.Stderr, "run: name a target with --agent or --label")
		return ExitUsage
	}
	spec := wire.CommandSpec{Cwd: *cwd, Cols: *cols, Rows: *rows, TimeoutMS: timeout.Milliseconds()}
	if *shell {
		spec.Shell = strings.Join(fs.Args(), " ")
	} else {
		spec.Argv = fs.Args()
	}
	if len(envs) > 0 {
		spec.Env = map[string]string{}
		for _, e := range envs {
			k, v, ok := strings.Cut(e, "=")
			if !ok || k == "" {
				return fail(env, "run: --env %q: want KEY=VALUE", e)
			}
			spec.Env[k] = v
		}
	}
	cl, err := c.dial(ctx, env)
	if err != nil {
		return fail(env, "run: %v", err)
	}
	defer cl.Close()
	cmds, err := cl.Run(ctx, targets, spec)
	if err != nil {
		return fail(env, "run: %v", err)
	}
	return follow(ctx, env, cl, cmds)
}

// follow streams the commands' output to stdout and returns the exit code.
func follow(ctx context.Context, env Env, cl *client.Client, cmds []wire.Command) int {
	out := newOutputWriter(env.Stdout, cmds)
	open := make(map[string]bool, len(cmds))
	for _, cmd := range cmds {
		open[cmd.ID] = true
		if err := cl.Subscribe(cmd.ID, 0); err != nil {
			return fail(env, "run: subscribe: %v", err)
		}
	}
	interrupts := make(chan os.Signal, 2)
	signal.Notify(interrupts, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(interrupts)
	cancelled := false
	for len(open) > 0 {
		select {
		case ev, ok := <-cl.Events():
			if !ok {
				return fail(env, "run: connection to relay lost: %v", cl.Err())
			}
			switch ev := ev.(type) {
			case client.Output:
				out.write(ev.CommandID, ev.Data)
			case client.OutputEnd:
				delete(open, ev.CommandID)
			case client.ServerError:
				fmt.Fprintf(env.Stderr, "relay: %s\n", ev.Message)
			}
		case <-interrupts:
			if cancelled {
				return ExitCanceled
			}
			cancelled = true
			fmt.Fprintln(env.Stderr, "cancelling; press ^C again to leave without waiting")
			for id := range open {
				_ = cl.Cancel(id)
			}
		case <-ctx.Done():
			return ExitCanceled
		}
	}
	out.flush()
	state := cl.State()
	final := make([]wire.Command, 0, len(cmds))
	for _, cmd := range cmds {
		final = append(final, state.Commands[cmd.ID])
	}
	if len(final) > 1 {
		for _, cmd := range final {
			fmt.Fprintf(env.Stderr, "%s: %s\n", cmd.AgentName, describeEnd(cmd))
		}
	}
	return exitCode(final)
}

// exitCode is the remote exit code for one command; for several, 0 only
// if all succeeded, else the first failure's code.
func exitCode(cmds []wire.Command) int {
	for _, cmd := range cmds {
		if code := commandExit(cmd); code != 0 {
			return code
		}
	}
	return 0
}

func commandExit(c wire.Command) int {
	switch c.State {
	case wire.StateExited:
		if c.ExitCode != nil {
			return *c.ExitCode
		}
		if n, ok := signalNumbers[c.Signal]; ok {
			return 128 + n
		}
		return 1
	case wire.StateTimedOut:
		return ExitTimedOut
	case wire.StateCanceled:
		return ExitCanceled
	case wire.StateRejected:
		return ExitRejected
	case wire.StateLost:
		return ExitLost
	default:
		return 1
	}
}

var signalNumbers = map[string]int{"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGABRT": 6, "SIGKILL": 9,
	"SIGSEGV": 11, "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15}

func describeEnd(c wire.Command) string {
	s := string(c.State)
	if c.ExitCode != nil {
		s += fmt.Sprintf(" %d", *c.ExitCode)
	}
	if c.Signal != "" {
		s += " " + c.Signal
	}
	if c.Reason != "" {
		s += ": " + c.Reason
	}
	return s
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
	fmt.Fprintln(tw, "ID\tAGENT\tSTATE\tEXIT\tCREATED\tDURATION\tCOMMAND")
	for _, cmd := range cmds {
		exit := "-"
		if cmd.ExitCode != nil {
			exit = fmt.Sprint(*cmd.ExitCode)
		} else if cmd.Signal != "" {
			exit = cmd.Signal
		}
		dur := "-"
		if cmd.State.Final() && cmd.DurationMS > 0 {
			dur = (time.Duration(cmd.DurationMS) * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cmd.ID, cmd.AgentName, cmd.State, exit,
			cmd.CreatedAt.Local().Format(time.DateTime), dur, CommandLine(cmd.CommandSpec))
	}
	tw.Flush()
	return 0
}

// CommandLine renders what a command runs, for one line of a listing.
func CommandLine(s wire.CommandSpec) string {
	if s.Shell != "" {
		return s.Shell
	}
	parts := make([]string, len(s.Argv))
	for i, a := range s.Argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$") {
			a = fmt.Sprintf("%q", a)
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}

// logs prints a command's output as raw bytes: what is there now, or with
// --follow everything until the command ends.
func logs(ctx context.Context, env Env, args []string) int {
	fs, c := newFlags("logs", env, "tui logs [--follow] COMMAND_ID: print a command's output, raw bytes.")
	followFlag := fs.Bool("follow", false, "Keep printing output as it arrives until the command ends.")
	if code := parse(fs, args); code != nil {
		return *code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(env.Stderr, "logs: give exactly one command id")
		return ExitUsage
	}
	id := fs.Arg(0)
	cl, err := c.dial(ctx, env)
	if err != nil {
		return fail(env, "logs: %v", err)
	}
	defer cl.Close()
	found, err := cl.History(ctx, wire.HistoryQuery{CommandID: id, Limit: 1})
	if err != nil {
		return fail(env, "logs: %v", err)
	}
	if len(found) == 0 {
		return fail(env, "logs: no command %q", id)
	}
	stopAt := found[0].OutputBytes
	if err := cl.Subscribe(id, 0); err != nil {
		return fail(env, "logs: %v", err)
	}
	for {
		if !*followFlag && stopAt == 0 {
			return 0
		}
		select {
		case ev, ok := <-cl.Events():
			if !ok {
				return fail(env, "logs: connection to relay lost: %v", cl.Err())
			}
			switch ev := ev.(type) {
			case client.Output:
				if _, err := env.Stdout.Write(ev.Data); err != nil {
					return fail(env, "logs: write: %v", err)
				}
				if !*followFlag && ev.Offset+int64(len(ev.Data)) >= stopAt {
					return 0
				}
			case client.OutputEnd:
				return 0
			case client.ServerError:
				return fail(env, "logs: %s", ev.Message)
			}
		case <-ctx.Done():
			return 1
		}
	}
}

func cancel(ctx context.Context, env Env, args []string) int {
	fs, c := newFlags("cancel", env, "tui cancel COMMAND_ID: stop a queued or running command (SIGINT, then SIGKILL).")
	wait := fs.Duration("wait", 15*time.Second, "How long to wait for the command to end.")
	if code := parse(fs, args); code != nil {
		return *code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(env.Stderr, "cancel: give exactly one command id")
		return ExitUsage
	}
	id := fs.Arg(0)
	cl, err := c.dial(ctx, env)
	if err != nil {
		return fail(env, "cancel: %v", err)
	}
	defer cl.Close()
	if err := cl.Cancel(id); err != nil {
		return fail(env, "cancel: %v", err)
	}
	deadline := time.After(*wait)
	for {
		select {
		case ev, ok := <-cl.Events():
			if !ok {
				return fail(env, "cancel: connection to relay lost: %v", cl.Err())
			}
			switch ev := ev.(type) {
			case client.CommandChanged:
				if ev.Command.ID == id && ev.Command.State.Final() {
					fmt.Fprintf(env.Stdout, "%s %s\n", id, describeEnd(ev.Command))
					return 0
				}
			case client.ServerError:
				return fail(env, "cancel: %s", ev.Message)
			}
		case <-deadline:
			return fail(env, "cancel: %s did not end within %s", id, *wait)
		case <-ctx.Done():
			return 1
		}
	}
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
