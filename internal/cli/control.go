package cli

import (
	"context"
	"fmt"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/wire"
)

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
					fmt.Fprintf(env.Stdout, "%s %s\n", esc(id), esc(describeEnd(ev.Command)))
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

// session runs the session subcommands; restart is the one there is.
func session(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || args[0] != "restart" {
		fmt.Fprintln(env.Stderr, "session: usage: tui session restart AGENT (an agent's name or id)")
		return ExitUsage
	}
	fs, c := newFlags("session restart", env, "tui session restart AGENT: stop an agent's session program if it runs and start it again.")
	wait := fs.Duration("wait", 30*time.Second, "How long to wait for the new session to run.")
	if code := parse(fs, args[1:]); code != nil {
		return *code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(env.Stderr, "session restart: give exactly one agent, by name or id")
		return ExitUsage
	}
	cl, err := c.dial(ctx, env)
	if err != nil {
		return fail(env, "session restart: %v", err)
	}
	defer cl.Close()
	a, ok := findAgent(cl.State(), fs.Arg(0))
	if !ok {
		return fail(env, "session restart: no agent %q", fs.Arg(0))
	}
	before := map[string]bool{}
	for id, cmd := range cl.State().Commands {
		if cmd.Session && cmd.AgentID == a.ID {
			before[id] = true
		}
	}
	if err := cl.RestartSession(a.ID); err != nil {
		return fail(env, "session restart: %v", err)
	}
	deadline := time.After(*wait)
	for {
		select {
		case ev, ok := <-cl.Events():
			if !ok {
				return fail(env, "session restart: connection to relay lost: %v", cl.Err())
			}
			switch ev := ev.(type) {
			case client.CommandChanged:
				cmd := ev.Command
				if cmd.Session && cmd.AgentID == a.ID && !before[cmd.ID] && cmd.State == wire.StateRunning {
					fmt.Fprintf(env.Stdout, "%s: session %s running: %s\n", a.Name, cmd.ID, cmd.CommandSpec.Line())
					return 0
				}
			case client.ServerError:
				return fail(env, "session restart: %s", ev.Message)
			}
		case <-deadline:
			return fail(env, "session restart: no new session on %s within %s", a.Name, *wait)
		case <-ctx.Done():
			return 1
		}
	}
}

// findAgent looks an agent up by id, then by name (the most recently seen
// of that name).
func findAgent(s client.State, idOrName string) (wire.Agent, bool) {
	if a, ok := s.Agents[idOrName]; ok {
		return a, true
	}
	var best wire.Agent
	found := false
	for _, a := range s.Agents {
		if a.Name == idOrName && (!found || a.LastSeen.After(best.LastSeen)) {
			best, found = a, true
		}
	}
	return best, found
}
