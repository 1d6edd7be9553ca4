// Command tui is the Switchboard dashboard for the terminal and, with a
// subcommand, the scriptable client (tui agents, tui run, …).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"switchboard/internal/cli"
	"switchboard/internal/client"
	"switchboard/internal/flagenv"
	"switchboard/internal/tui"
)

var version = "0.1.0"

const summary = `Usage: tui [flags]              the full-screen dashboard
       tui SUBCOMMAND [flags]   one scriptable action (see below)

Without a subcommand, tui opens the dashboard: the agents, a command bar,
and panes showing commands' output live. Press ? inside for every key.`

func main() {
	env := cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Version: version}
	args := os.Args[1:]
	if len(args) > 0 {
		if cmd, ok := cli.Commands[args[0]]; ok {
			os.Exit(cmd(context.Background(), env, args[1:]))
		}
		if args[0] == "help" {
			fmt.Println(summary + "\n\n" + cli.Usage)
			return
		}
		if args[0] != "" && args[0][0] != '-' {
			fmt.Fprintf(os.Stderr, "tui: unknown subcommand %q\n\n%s\n", args[0], cli.Usage)
			os.Exit(cli.ExitUsage)
		}
	}
	os.Exit(dashboard(args, os.Stderr))
}

// dashboard parses the dashboard's flags and runs it; it returns the exit code.
func dashboard(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("tui", flag.ContinueOnError)
	fs.SetOutput(stderr)
	relays := flagenv.NewList("ws://127.0.0.1:8080")
	fs.Var(relays, "relay", cli.RelayUsage)
	token := fs.String("token", "", "Access token. Prefer --token-file or the environment: a flag shows in ps.")
	tokenFile := fs.String("token-file", "", "File holding the access token.")
	ca := fs.String("ca", "", "PEM file of a certificate authority to trust for wss:// (besides the system's).")
	logFile := fs.String("log-file", defaultLogFile(), "File the dashboard logs to (the screen is the dashboard's).")
	logLevel := fs.String("log-level", "info", "Log level: debug, info, warn or error.")
	noNotify := fs.Bool("no-notify", false, "Do not ring this terminal (a bell, and an OSC 9 notification that terminal emulators show) when an agent starts waiting.")
	fs.Usage = func() {
		flagenv.Usage(fs, summary)()
		fmt.Fprintln(stderr, "\n"+cli.Usage)
	}
	if err := flagenv.Apply(fs); err != nil {
		fmt.Fprintln(stderr, err)
		return cli.ExitUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return cli.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tui: unexpected argument %q\n", fs.Arg(0))
		return cli.ExitUsage
	}
	logger, closeLog, err := openLog(*logFile, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "tui: %v\n", err)
		return cli.ExitUsage
	}
	defer closeLog()
	tok, err := flagenv.LoadToken(*token, *tokenFile)
	if err != nil {
		fmt.Fprintf(stderr, "tui: %v\n", err)
		return cli.ExitUsage
	}
	dialer, err := client.TLSDialer(*ca)
	if err != nil {
		fmt.Fprintf(stderr, "tui: %v\n", err)
		return cli.ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	urls := relays.Values()
	cfg := client.Config{Relay: urls[0], Relays: urls[1:], Client: "switchboard-tui/" + version, Token: tok, Dialer: dialer, Logger: logger}
	if err := tui.Run(ctx, cfg, tui.Options{NoNotify: *noNotify, Logger: logger}); err != nil {
		fmt.Fprintf(stderr, "tui: %v\n", cli.ExplainDial(err, tok != ""))
		logger.Error("dashboard ended", "err", err)
		return 1
	}
	return 0
}

// defaultLogFile is tui.log in the user's cache directory, or in the
// temporary directory when there is none.
func defaultLogFile() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "switchboard", "tui.log")
}

func openLog(path, level string) (*slog.Logger, func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("log file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("log file: %w", err)
	}
	l, err := flagenv.Logger(f, level, "text")
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return l, func() { f.Close() }, nil
}
