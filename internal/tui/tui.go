// Package tui is the full-screen terminal dashboard: a live agent list, a
// command bar, and up to four panes that show commands' output through a
// terminal emulator (charmbracelet/x/vt), with an interactive mode that
// hands the keyboard to a remote process, and a replay view that plays a
// past command at its recorded times (replay*.go, on internal/recording's
// player, in an emulator of its own that never answers the command). It
// is a Bubble Tea program built on the shared dashboard client; it does
// no I/O in Update. The tui
// command runs it in its own terminal (Run), the relay's SSH server in
// each SSH session's (NewProgram).
package tui

import (
	"context"
	"errors"
	"fmt"

	tea "charm.land/bubbletea/v2"

	"switchboard/internal/client"
)

// Run connects to the relay and runs the dashboard in this process's
// terminal until the user quits. cfg.Reconnect is forced on: the
// dashboard rides out relay restarts.
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
	opts.SeveralRelays = opts.SeveralRelays || len(cfg.Relays) > 0
	p, closeModel := NewProgram(ctx, cl, opts)
	defer closeModel()
	_, err = p.Run()
	if err != nil && !(errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil) {
		return fmt.Errorf("run dashboard: %w", err)
	}
	return nil
}

// NewProgram builds the dashboard on a connected backend as a Bubble Tea
// program that ends with ctx; progOpts give it a terminal other than the
// process's (its input, output, size, environment and colours). The
// caller runs it, sends it the terminal's size changes when they do not
// come as SIGWINCH (tea.WindowSizeMsg), and calls closeModel once it has
// ended, which stops the model's goroutines.
func NewProgram(ctx context.Context, b Backend, opts Options, progOpts ...tea.ProgramOption) (p *tea.Program, closeModel func()) {
	m := New(b, opts)
	return tea.NewProgram(m, append([]tea.ProgramOption{tea.WithContext(ctx)}, progOpts...)...), m.Close
}
