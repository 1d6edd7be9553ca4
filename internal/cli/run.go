package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"switchboard/internal/client"
	"switchboard/internal/flagenv"
	"switchboard/internal/wire"
)

// run starts a command on its targets and streams the output until every
// command has ended. ^C cancels the remote commands; a second ^C leaves.
func run(ctx context.Context, env Env, args []string) int {
	fs, c := newFlags("run", env, "tui run [--agent NAME|ID]... [--label k=v]... [--timeout D] -- CMD [ARGS...]: run a command on agents and stream its output.")
	var agentsFlag flagenv.Strings
	var labels, envs flagenv.KeyValues
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
	targets := wire.Targets{Agents: agentsFlag, Labels: wire.Strings(labels)}
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
	spec.Env = wire.Strings(envs)
	cl, err := c.dialFollowing(ctx, env)
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
	interrupts := env.Interrupt
	if interrupts == nil {
		signals := make(chan os.Signal, 2)
		signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(signals)
		interrupts = signals
	}
	cancelled, down := false, false
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
				fmt.Fprintf(env.Stderr, "relay: %s\n", esc(ev.Message))
			case client.ConnState:
				noteConn(env, "run", ev, &down)
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
	for _, cmd := range final {
		switch {
		case len(final) > 1:
			fmt.Fprintf(env.Stderr, "%s: %s\n", esc(cmd.AgentName), esc(describeEnd(cmd)))
		case endNote(cmd) != "":
			fmt.Fprintf(env.Stderr, "run: %s\n", esc(endNote(cmd)))
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

// endNote says why a command ended without an exit status of its own
// (which the exit code then stands for), or "" when it has one.
func endNote(c wire.Command) string {
	why := ""
	if c.Reason != "" {
		why = ": " + c.Reason
	}
	switch c.State {
	case wire.StateExited:
		if c.ExitCode == nil {
			return fmt.Sprintf("killed by %s on %s", c.Signal, c.AgentName)
		}
		return ""
	case wire.StateRejected:
		return fmt.Sprintf("could not start on %s%s", c.AgentName, why)
	case wire.StateTimedOut:
		return fmt.Sprintf("timed out on %s%s", c.AgentName, why)
	case wire.StateCanceled:
		return fmt.Sprintf("cancelled on %s%s", c.AgentName, why)
	case wire.StateLost:
		return fmt.Sprintf("lost on %s%s", c.AgentName, why)
	}
	return fmt.Sprintf("ended %s on %s%s", c.State, c.AgentName, why)
}

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
