package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"switchboard/internal/client"
	"switchboard/internal/wire"
)

// parseAround parses args whose flags may come before or after the
// positional arguments (tui export ID -o FILE), and returns those. It
// returns a non-nil exit code when the caller should stop.
func parseAround(fs *flag.FlagSet, args []string) ([]string, *int) {
	if code := parse(fs, args); code != nil {
		return nil, code
	}
	var pos []string
	for rest := fs.Args(); len(rest) > 0; rest = fs.Args() {
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			code := ExitUsage
			return nil, &code
		}
	}
	return pos, nil
}

// loadCommand finds a command and its timing events.
func loadCommand(ctx context.Context, cl *client.Client, id string) (wire.Command, []wire.TimingEvent, error) {
	found, err := cl.History(ctx, wire.HistoryQuery{CommandID: id, Limit: 1})
	if err != nil {
		return wire.Command{}, nil, err
	}
	if len(found) == 0 {
		return wire.Command{}, nil, fmt.Errorf("no command %q", id)
	}
	events, err := cl.Timing(ctx, id)
	if err != nil {
		return wire.Command{}, nil, err
	}
	// A command that ended after History answered holds all its output
	// now; the timing request waited for its end to be stored.
	if !found[0].State.Final() {
		if again, err := cl.History(ctx, wire.HistoryQuery{CommandID: id, Limit: 1}); err == nil && len(again) == 1 {
			found = again
		}
	}
	return found[0], events, nil
}

// readOutput passes a command's output, from offset 0 up to end, to fn as
// it arrives. It reads the client's events itself, so nothing else may.
func readOutput(ctx context.Context, cl *client.Client, id string, end int64, fn func(off int64, data []byte) error) error {
	if end <= 0 {
		return nil
	}
	if err := cl.Subscribe(id, 0); err != nil {
		return err
	}
	defer cl.Unsubscribe(id)
	for {
		select {
		case ev, ok := <-cl.Events():
			if !ok {
				return fmt.Errorf("connection to relay lost: %v", cl.Err())
			}
			switch ev := ev.(type) {
			case client.Output:
				if ev.CommandID != id {
					continue
				}
				data := ev.Data[:min(int64(len(ev.Data)), max(end-ev.Offset, 0))]
				if err := fn(ev.Offset, data); err != nil {
					return err
				}
				if ev.Offset+int64(len(ev.Data)) >= end {
					return nil
				}
			case client.OutputEnd:
				if ev.CommandID == id {
					return nil
				}
			case client.ServerError:
				if ev.CommandID == id || ev.CommandID == "" {
					return fmt.Errorf("%s", strings.TrimSpace(ev.Message))
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
