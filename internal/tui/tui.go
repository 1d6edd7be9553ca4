// Package tui is the full-screen terminal dashboard: a live agent list, a
// command bar, and up to four panes that show commands' output through a
// terminal emulator (charmbracelet/x/vt), with an interactive mode that
// hands the keyboard to a remote process. It is a Bubble Tea program built
// on the shared dashboard client; it does no I/O in Update.
package tui

import (
	"context"
	"errors"
	"fmt"

	tea "charm.land/bubbletea/v2"

	"switchboard/internal/client"
)

// Run connects to the relay and runs the dashboard until the user quits.
// cfg.Reconnect is forced on: the dashboard rides out relay restarts.
func Run(ctx context.Context, cfg client.Config, opts Options) error {
	cfg.Reconnect = true
	if cfg.Logger == nil {
		cfg.Logger = opts.Logger
	}
	cl, err := client.Dial(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to relay: %w", err)
	}
	defer cl.Close()
	if opts.Relay == "" {
		opts.Relay = cfg.Relay
	}
	m := New(cl, opts)
	defer m.Close()
	_, err = tea.NewProgram(m, tea.WithContext(ctx)).Run()
	if err != nil && !(errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil) {
		return fmt.Errorf("run dashboard: %w", err)
	}
	return nil
}
