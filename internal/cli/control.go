package cli

import (
	"context"
	"fmt"
	"time"

	"switchboard/internal/client"
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
