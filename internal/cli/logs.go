package cli

import (
	"context"
	"fmt"

	"switchboard/internal/client"
	"switchboard/internal/wire"
)

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
	dial := c.dial
	if *followFlag {
		dial = c.dialFollowing
	}
	cl, err := dial(ctx, env)
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
	down := false
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
			case client.ConnState:
				noteConn(env, "logs", ev, &down)
			}
		case <-ctx.Done():
			return 1
		}
	}
}
