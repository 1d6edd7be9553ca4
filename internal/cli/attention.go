package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/wire"
)

// wait is `tui wait`: it returns 0 once the agent's attention is the one
// asked for, ExitTimedOut if --timeout passes first.
func wait(ctx context.Context, env Env, args []string) int {
	fs, c := newFlags("wait", env, "tui wait --agent NAME --for waiting|idle [--timeout D]: wait until an agent needs a person, or has nothing left to do.")
	name := fs.String("agent", "", "The agent, by name or id (of several with that name, any one).")
	state := fs.String("for", "", "The attention to wait for: waiting (a command asks something), idle (nothing running, or all known idle), or working, quiet, offline.")
	timeout := fs.Duration("timeout", 0, "Give up after this long, with exit code 124; 0 waits for ever.")
	if code := parse(fs, args); code != nil {
		return *code
	}
	want := wire.Attention(*state)
	if *name == "" || fs.NArg() != 0 || (!want.Reportable() && want != wire.AttentionOffline) {
		fmt.Fprintln(env.Stderr, "wait: give --agent NAME and --for waiting, idle, working, quiet or offline")
		return ExitUsage
	}
	cfg, err := c.Config("switchboard-cli/" + env.Version)
	if err != nil {
		return fail(env, "wait: %v", err)
	}
	cfg.Reconnect = true // a relay restart is not the end of a wait
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	cl, err := client.Dial(ctx, cfg)
	if err != nil {
		return fail(env, "wait: %v", err)
	}
	defer cl.Close()
	a, found := agentIn(cl.State(), *name, want)
	if !found {
		return fail(env, "wait: no agent %q", *name)
	}
	down := false
	for a.Attention != want {
		select {
		case ev, ok := <-cl.Events():
			if !ok {
				return fail(env, "wait: connection to relay lost: %v", cl.Err())
			}
			if cs, isConn := ev.(client.ConnState); isConn {
				noteConn(env, "wait", cs, &down)
			}
			a, _ = agentIn(cl.State(), *name, want)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				fmt.Fprintf(env.Stderr, "wait: %s is still %s after %s\n", *name, a.Attention, *timeout)
				return ExitTimedOut
			}
			return 1
		}
	}
	fmt.Fprintln(env.Stdout, describeAttention(a))
	return 0
}

// agentIn finds the agent named (by id or name), preferring one whose
// attention is want.
func agentIn(s client.State, name string, want wire.Attention) (wire.Agent, bool) {
	var found wire.Agent
	ok := false
	for _, a := range s.Agents {
		if a.ID != name && a.Name != name {
			continue
		}
		if !ok || a.Attention == want {
			found, ok = a, true
		}
	}
	return found, ok
}

// describeAttention is one line about an agent's attention.
func describeAttention(a wire.Agent) string {
	if a.AttentionReason == "" {
		return fmt.Sprintf("%s %s", a.Name, a.Attention)
	}
	return fmt.Sprintf("%s %s: %s", a.Name, a.Attention, a.AttentionReason)
}

// reply is `tui reply`: a quick reply to a waiting command, followed by
// Enter unless --no-enter.
func reply(ctx context.Context, env Env, args []string) int {
	fs, c := newFlags("reply", env, "tui reply (--agent NAME | --command ID) [--no-enter] [TEXT]: answer a waiting command without opening it; TEXT then Enter, or Enter alone.")
	name := fs.String("agent", "", "Answer this agent's waiting command (by name or id).")
	id := fs.String("command", "", "Answer this waiting command.")
	noEnter := fs.Bool("no-enter", false, "Send TEXT without Enter after it (a single key for a program that reads keys).")
	if code := parse(fs, args); code != nil {
		return *code
	}
	if (*name == "") == (*id == "") || fs.NArg() > 1 {
		fmt.Fprintln(env.Stderr, "reply: give --agent NAME or --command ID, and at most one TEXT (quote it)")
		return ExitUsage
	}
	text := fs.Arg(0)
	if !*noEnter {
		text += "\r"
	}
	if text == "" {
		fmt.Fprintln(env.Stderr, "reply: --no-enter needs a TEXT")
		return ExitUsage
	}
	cl, err := c.dial(ctx, env)
	if err != nil {
		return fail(env, "reply: %v", err)
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := cl.QuickReply(rctx, wire.QuickReply{Agent: *name, CommandID: *id, Text: text})
	if err != nil {
		return fail(env, "reply: %v", err)
	}
	fmt.Fprintf(env.Stdout, "sent to %s\n", got)
	return 0
}
