package sshd

import (
	"errors"
	"fmt"
	"sync"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2/bubbletea"

	"switchboard/internal/client"
	"switchboard/internal/tui"
)

// dashboard runs the TUI in the session's terminal until the user quits
// (exit 0), the session ends, or the server ends it.
func (sc *session) dashboard() int {
	pty, windows, ok := sc.sess.Pty()
	if !ok {
		fmt.Fprintln(sc.sess.Stderr(), "Switchboard: the dashboard needs a terminal: ssh -t, or give a subcommand (ssh … help lists them)")
		return 2
	}
	cfg := sc.clientConfig()
	cfg.Reconnect = true // the dashboard rides out the relay's hiccups, as the tui program does
	cl, err := client.Dial(sc.ctx, cfg)
	if err != nil {
		fmt.Fprintf(sc.sess.Stderr(), "Switchboard: connect to the relay: %v\n", err)
		return 1
	}
	defer cl.Close()
	sc.watchIdle()
	// The session's terminal: wish's options (its size, $TERM and
	// environment, hence its colours), with input and output through the
	// session's guards, and no signal handler (the relay's signals are not
	// this user's).
	w, h := windowSize(pty.Window)
	opts := append(bubbletea.MakeOptions(sc.sess), tea.WithInput(sc.input()), tea.WithOutput(sc.output(sc.sess)),
		tea.WithoutSignalHandler(), tea.WithWindowSize(w, h))
	p, closeModel := tui.NewProgram(sc.ctx, cl, tui.Options{Relay: sc.srv.cfg.PageURL, Logger: sc.log}, opts...)
	defer closeModel()
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done)
	wg.Go(func() {
		for {
			select {
			case win, ok := <-windows:
				if !ok { // the channel closed: the client has gone
					sc.cancel()
					return
				}
				sc.touch()
				w, h := windowSize(win)
				p.Send(tea.WindowSizeMsg{Width: w, Height: h})
			case <-done:
				return
			}
		}
	})
	if _, err := p.Run(); err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		sc.log.Warn("ssh: dashboard ended", "err", err)
		return 1
	}
	if sc.ctx.Err() != nil {
		return 1 // ended by the server or by the client going away, not by q
	}
	return 0
}

// windowSize is a terminal's size, or 80×24 for a client that could not
// tell it (ssh -tt with no terminal of its own says 0×0).
func windowSize(w ssh.Window) (width, height int) {
	width, height = w.Width, w.Height
	if width <= 0 || height <= 0 {
		width, height = 80, 24
	}
	return width, height
}
