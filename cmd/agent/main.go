// Command agent connects a machine to a Switchboard relay and runs the
// commands dashboards send it, each in its own pseudo-terminal, streaming
// their output back. Given a program after "--", it also runs that program
// at once as a session that dashboards can watch and type into.
//
// Every flag can also be set through its environment variable,
// SWITCHBOARD_ plus the flag's name (internal/flagenv); a flag on the
// command line wins over the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"switchboard/internal/agent"
	"switchboard/internal/flagenv"
	"switchboard/internal/tlsconf"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

const summary = `
Usage: agent [flags] [-- PROGRAM [ARGS...]]
       agent notify [waiting|working|idle] [--message TEXT]   (agent notify -h for help)

Agent connects this machine to a Switchboard relay and runs the commands
that dashboards send it. Each command runs in its own pseudo-terminal; its
output streams to the relay as it is produced and is kept in memory until
the relay has stored it, so output survives a lost connection. The agent
reconnects by itself, forever; given several relays (--relay), it moves to
another when its relay is gone.

With a PROGRAM after "--", the agent starts that program at once as a
session: dashboards can watch it, type into it and resize it. When the
session program exits, the agent reports the exit and keeps serving
commands.

Protecting this machine: with --allow, the agent runs only the commands
that match one of the patterns and rejects every other before it starts,
with a reason dashboards and the relay's audit trail show. A pattern is
matched against the whole command line: a command given as arguments is
its arguments joined by single spaces, a shell command is its shell text.
In a pattern, * matches any run of characters, spaces and slashes
included, ? matches exactly one, and every other character only itself.
In a shell command, * and ? never match the shell's control characters
; & | < > ( ) $ ` + "`" + ` or a line break, so "make *" cannot be extended with a
second command. Allow exact command lines, or patterns whose program
cannot be told to run other code: "make *" can (make --eval='...',
make -f FILE, make SHELL=...), "make test" cannot. For example,
--allow 'make test' --allow 'go test ./...'. On an agent with --allow, a
command that sets an environment variable or a working directory is
refused unless --allow-env NAME or --allow-cwd DIR permits it: a variable
(MAKEFLAGS, PATH, LD_PRELOAD) or a directory (its own Makefile) can change
what an allowed command runs. Programs are found on the agent's own PATH.
The session is yours and is not checked. With --no-input, dashboards may watch and resize commands and
the session but never type into them.

On SIGINT or SIGTERM the agent stops its running commands (SIGTERM, then
SIGKILL after the cancel grace period), reports them to the relay and
exits. A second signal exits at once.`

// errReported is a command-line error the flag package already printed.
var errReported = errors.New("bad command line")

func main() {
	if len(os.Args) > 1 && os.Args[1] == "notify" {
		os.Exit(notifyCommand(os.Args[2:], os.Stdin, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errReported):
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return 2
	}
	log := cfg.Logger
	a, err := agent.New(cfg)
	if err != nil {
		log.Error("cannot start the agent", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal now ends the process at once
	}()
	log.Info("agent starting", "version", version, "id", a.ID(), "relays", cfg.RelayURLs,
		"allow", cfg.Allow, "allow_env", cfg.AllowEnv, "allow_cwd", cfg.AllowCwd, "no_input", cfg.NoInput, "record_input", cfg.RecordInput)
	if err := a.Run(ctx); err != nil {
		log.Error("agent failed", "err", err)
		return 1
	}
	return 0
}

// parseFlags reads the environment, then the command line, into a Config.
func parseFlags(args []string, stderr io.Writer) (agent.Config, error) {
	cfg := agent.Config{Version: version, Labels: map[string]string{}}
	buffer := flagenv.ByteSize(agent.DefaultBufferBytes)
	var allow, allowEnv, allowCwd flagenv.Strings
	host, _ := os.Hostname()

	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	relays := flagenv.NewList("ws://127.0.0.1:8080")
	fs.Var(relays, "relay", "The relay's base `URL`; ws, wss, http and https URLs all work. Give several relays of one system (sharing one store) to fail over: repeat the flag or separate them with commas. The agent uses one at a time, stays on it while it works, and moves to the next when it cannot reach it or loses it; running commands keep going and resume there.")
	fs.StringVar(&cfg.Name, "name", host, "The `name` this agent shows under in dashboards. Several agents may share a name.")
	fs.Var((*flagenv.KeyValues)(&cfg.Labels), "label", "A `key=value` label that run requests can select this agent by. Repeat the flag for more labels; in the environment, separate them with commas.")
	fs.IntVar(&cfg.MaxConcurrent, "max-concurrent", agent.DefaultMaxConcurrent, "The `number` of commands that may run at once. The session, if any, does not count.")
	fs.Var(&buffer, "buffer", "How much output, in `bytes`, the agent keeps for the relay while it has not yet stored it (suffixes K, M and G count in powers of 1024). When full, the oldest output is dropped and the relay is told. The relay stores a command's output every 16 KiB or 2 s, so allow at least that for each running command.")
	fs.StringVar(&cfg.ID, "id", "", "The agent's stable `id`. By default it is created on first run and kept in the state directory, so the relay recognizes the agent after a restart.")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "The `directory` where the agent keeps its id. The default is $XDG_STATE_HOME/switchboard, or ~/.local/state/switchboard.")
	fs.DurationVar(&cfg.QuietAfter, "quiet-after", agent.DefaultQuietAfter, "How long a running command may print nothing before dashboards show it quiet. Silence alone never makes it waiting.")
	fs.DurationVar(&cfg.CancelGrace, "cancel-grace", agent.DefaultCancelGrace, "How long a cancelled or timed-out command has to exit after SIGINT before it gets SIGKILL.")
	token := fs.String("token", "", "The access `token` the relay asks for. Prefer the environment variable or --token-file: other users can read command lines.")
	tokenFile := fs.String("token-file", "", "A `file` holding the access token, instead of --token.")
	ca := fs.String("ca", "", "A PEM `file` of certificate authorities to trust for a wss:// relay, besides the system's.")
	fs.Var(&allow, "allow", "Run only commands that match this `pattern` (see above), and reject the others. Repeat the flag for more patterns; in the environment, separate them with commas (a pattern with a comma needs the flag). Without it, every command may run.")
	fs.Var(&allowEnv, "allow-env", "With --allow: an environment variable `name` a command may set (repeatable). Without it, a command that sets any is refused.")
	fs.Var(&allowCwd, "allow-cwd", "With --allow: an absolute `directory` a command may run in, that directory itself (repeatable). Without it, a command that sets a working directory is refused.")
	fs.BoolVar(&cfg.NoInput, "no-input", false, "Refuse all input from dashboards: they may watch and resize this agent's commands and session, but not type into them.")
	fs.BoolVar(&cfg.RecordInput, "record-input", false, "Record what dashboards type into commands, with when, beside their output, so replays and asciicast exports (tui export --input) show it. Off by default: typed input can hold passwords.")
	logLevel := fs.String("log-level", "info", "The least important log `level` shown: debug, info, warn or error.")
	logFormat := fs.String("log-format", "text", "The log `format`, text or json. Logs go to standard error.")
	fs.Usage = flagenv.Usage(fs, summary)

	if err := flagenv.Apply(fs); err != nil {
		return cfg, err
	}
	if err := fs.Parse(args); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			err = errReported // flag printed it, with the usage
		}
		return cfg, err
	}
	// The token is the agent's alone: its commands inherit its environment
	// and could print the token into output that every viewer sees.
	_ = os.Unsetenv(flagenv.Name("token"))

	var err error
	if cfg.Logger, err = flagenv.Logger(stderr, *logLevel, *logFormat); err != nil {
		return cfg, err
	}
	if cfg.Token, err = flagenv.LoadToken(*token, *tokenFile); err != nil {
		return cfg, err
	}
	if cfg.TLS, err = tlsconf.Client(*ca); err != nil {
		return cfg, err
	}
	cfg.RelayURLs = relays.Values()
	cfg.BufferBytes = int64(buffer)
	cfg.Allow, cfg.AllowEnv, cfg.AllowCwd = allow, allowEnv, allowCwd
	cfg.Session = fs.Args()
	return cfg, nil
}
