package sshd

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"syscall"

	"charm.land/ssh"

	"switchboard/internal/cli"
)

// execCommands are the subcommands an SSH exec request may run: those
// that only talk to the relay. Any other (one that reads or writes files
// of the machine it runs on) is refused, until someone decides it is safe
// to run on the relay's machine for another user.
var execCommands = []string{"agents", "run", "history", "logs", "cancel", "audit", "session", "wait", "reply", "search"}

// execUsage is the help of exec requests.
const execUsage = `Usage: ssh [-t] -p PORT RELAY                  the full-screen dashboard
       ssh -p PORT RELAY SUBCOMMAND [FLAGS]    one scriptable action

` + cli.Subcommands + `
Each acts as the token your SSH key is bound to. With ssh -t, ^C stops
what run started, as in a terminal; without it, ^C leaves it running.`

// exec runs the session's command as a CLI subcommand, with its output
// on the session's standard output and error, and returns its exit code.
func (sc *session) exec() int {
	args := sc.sess.Command()
	stderr := sc.output(sc.sess.Stderr())
	if len(args) == 0 || slices.Contains([]string{"help", "-h", "-help", "--help"}, args[0]) {
		fmt.Fprintln(sc.output(sc.sess), execUsage)
		return 0
	}
	cmd, ok := cli.Commands[args[0]]
	if !ok || !slices.Contains(execCommands, args[0]) {
		fmt.Fprintf(stderr, "Switchboard: unknown subcommand %q over SSH: %s help lists them\n", args[0], "ssh … ")
		return cli.ExitUsage
	}
	interrupts := make(chan os.Signal, 1)
	sc.forwardInterrupts(interrupts)
	cfg := sc.clientConfig()
	env := cli.Env{Stdout: sc.output(sc.sess), Stderr: stderr, Version: sc.srv.cfg.Version, Remote: &cfg, Interrupt: interrupts}
	return cmd(sc.ctx, env, args[1:])
}

// forwardInterrupts sends the session's interrupts to ch without ever
// blocking the SSH library (a second one while the first waits is
// dropped: run acts on the first): SIGINT and SIGTERM signal requests,
// and with a terminal, ^C typed into it.
func (sc *session) forwardInterrupts(ch chan<- os.Signal) {
	send := func(sig os.Signal) {
		select {
		case ch <- sig:
		default:
		}
	}
	signals := make(chan ssh.Signal, 4)
	sc.sess.Signals(signals)
	go func() {
		for {
			select {
			case sig := <-signals:
				switch sig {
				case ssh.SIGINT:
					send(syscall.SIGINT)
				case ssh.SIGTERM:
					send(syscall.SIGTERM)
				}
			case <-sc.ctx.Done():
				// The SSH library sends under a lock that Signals takes:
				// drain until the channel is unregistered.
				unregistered := make(chan struct{})
				go func() { sc.sess.Signals(nil); close(unregistered) }()
				for {
					select {
					case <-signals:
					case <-unregistered:
						return
					}
				}
			}
		}
	}()
	if _, _, isTerm := sc.sess.Pty(); isTerm {
		go readInterrupts(sc.sess, func() { send(syscall.SIGINT) })
	}
}

// readInterrupts reads a terminal's keys until it closes, calling
// interrupt at each ^C; nothing else typed is for a subcommand.
func readInterrupts(r io.Reader, interrupt func()) {
	buf := make([]byte, 256)
	for {
		n, err := r.Read(buf)
		if bytes.IndexByte(buf[:n], 0x03) >= 0 {
			interrupt()
		}
		if err != nil {
			return
		}
	}
}
