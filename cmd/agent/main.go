// Command agent connects a machine to a Switchboard relay and runs the
// commands dashboards send it, each in its own pseudo-terminal, streaming
// their output back. Given a program after "--", it also runs that program
// at once as a session that dashboards can watch and type into.
//
// Every flag can also be set through the environment variable shown in
// --help; a flag on the command line wins over the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"switchboard/internal/agent"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

const summary = `Usage: agent [flags] [-- PROGRAM [ARGS...]]

Agent connects this machine to a Switchboard relay and runs the commands
that dashboards send it. Each command runs in its own pseudo-terminal; its
output streams to the relay as it is produced and is kept in memory until
the relay has stored it, so output survives a lost connection. The agent
reconnects by itself, forever.

With a PROGRAM after "--", the agent starts that program at once as a
session: dashboards can watch it, type into it and resize it. When the
session program exits, the agent reports the exit and keeps serving
commands.

On SIGINT or SIGTERM the agent stops its running commands (SIGTERM, then
SIGKILL after the cancel grace period), reports them to the relay and
exits. A second signal exits at once.`

// envNames maps each flag to the environment variable that can set it.
var envNames = map[string]string{
	"relay":          "SWITCHBOARD_RELAY",
	"name":           "SWITCHBOARD_AGENT_NAME",
	"label":          "SWITCHBOARD_AGENT_LABELS",
	"max-concurrent": "SWITCHBOARD_MAX_CONCURRENT",
	"buffer":         "SWITCHBOARD_AGENT_BUFFER",
	"id":             "SWITCHBOARD_AGENT_ID",
	"token":          "SWITCHBOARD_TOKEN",
	"token-file":     "SWITCHBOARD_TOKEN_FILE",
	"state-dir":      "SWITCHBOARD_STATE_DIR",
	"cancel-grace":   "SWITCHBOARD_CANCEL_GRACE",
	"log-level":      "SWITCHBOARD_LOG_LEVEL",
}

// errReported is a command-line error the flag package already printed.
var errReported = errors.New("bad command line")

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	cfg, level, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errReported):
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.Logger = log
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
	log.Info("agent starting", "version", version, "id", a.ID(), "relay", cfg.RelayURL)
	if err := a.Run(ctx); err != nil {
		log.Error("agent failed", "err", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (agent.Config, slog.Level, error) {
	cfg := agent.Config{Version: version, Labels: map[string]string{}}
	level := slog.LevelInfo
	buffer := byteSize(agent.DefaultBufferBytes)
	var tokenFile string
	host, _ := os.Hostname()

	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.RelayURL, "relay", "ws://127.0.0.1:8080", "The relay's base `URL`; ws, wss, http and https URLs all work.")
	fs.StringVar(&cfg.Name, "name", host, "The `name` this agent shows under in dashboards. Several agents may share a name.")
	fs.Var(labelFlag(cfg.Labels), "label", "A `key=value` label that run requests can select this agent by. Repeat the flag for more labels; in the environment, separate them with commas.")
	fs.IntVar(&cfg.MaxConcurrent, "max-concurrent", agent.DefaultMaxConcurrent, "The `number` of commands that may run at once. The session, if any, does not count.")
	fs.Var(&buffer, "buffer", "How much output, in `bytes`, the agent keeps for the relay while it has not yet stored it (suffixes K, M and G count in powers of 1024). When full, the oldest output is dropped and the relay is told.")
	fs.StringVar(&cfg.ID, "id", "", "The agent's stable `id`. By default it is created on first run and kept in the state directory, so the relay recognizes the agent after a restart.")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "The `directory` where the agent keeps its id. The default is $XDG_STATE_HOME/switchboard, or ~/.local/state/switchboard.")
	fs.DurationVar(&cfg.CancelGrace, "cancel-grace", agent.DefaultCancelGrace, "How long a cancelled or timed-out command has to exit after SIGINT before it gets SIGKILL.")
	fs.StringVar(&cfg.Token, "token", "", "The access `token` the relay asks for. Prefer the environment variable or --token-file: other users can read command lines.")
	fs.StringVar(&tokenFile, "token-file", "", "A `file` holding the access token, instead of --token.")
	fs.TextVar(&level, "log-level", slog.LevelInfo, "The least important log `level` shown: debug, info, warn or error.")
	fs.Usage = usage(fs)

	if err := applyEnv(fs); err != nil {
		return cfg, level, err
	}
	if err := fs.Parse(args); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			err = errReported // flag printed it, with the usage
		}
		return cfg, level, err
	}
	cfg.BufferBytes = int64(buffer)
	cfg.Session = fs.Args()
	token, err := loadToken(cfg.Token, tokenFile)
	cfg.Token = token
	return cfg, level, err
}

// loadToken returns the token given directly, or else the one in file.
func loadToken(token, file string) (string, error) {
	if token != "" && file != "" {
		return "", errors.New("give --token or --token-file, not both")
	}
	if file == "" {
		return token, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	if token = strings.TrimSpace(string(b)); token == "" {
		return "", fmt.Errorf("token file %s is empty", file)
	}
	return token, nil
}

// applyEnv sets every flag that has a value in the environment; flags
// parsed afterwards override it.
func applyEnv(fs *flag.FlagSet) error {
	for _, name := range slices.Sorted(maps.Keys(envNames)) {
		v, ok := os.LookupEnv(envNames[name])
		if !ok {
			continue
		}
		values := []string{v}
		if name == "label" {
			values = strings.Split(v, ",")
		}
		for _, v := range values {
			if err := fs.Set(name, strings.TrimSpace(v)); err != nil {
				return fmt.Errorf("environment %s=%q: %w", envNames[name], v, err)
			}
		}
	}
	return nil
}

func usage(fs *flag.FlagSet) func() {
	return func() {
		out := fs.Output()
		fmt.Fprintf(out, "%s\n\nFlags (each can also be set by the environment variable shown):\n", summary)
		fs.VisitAll(func(f *flag.Flag) {
			arg, help := flag.UnquoteUsage(f)
			fmt.Fprintf(out, "  --%s %s\n      %s\n", f.Name, arg, help)
			if f.DefValue != "" && f.DefValue != "0" {
				fmt.Fprintf(out, "      Default: %s.\n", f.DefValue)
			}
			fmt.Fprintf(out, "      Environment: %s.\n", envNames[f.Name])
		})
	}
}

// labelFlag collects repeated key=value flags into a map.
type labelFlag map[string]string

func (l labelFlag) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ",")
}

func (l labelFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("label %q is not key=value", v)
	}
	l[k] = val
	return nil
}

// byteSize is a size in bytes with an optional K, M or G suffix (binary).
type byteSize int64

func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Set(v string) error {
	s := strings.ToUpper(strings.TrimSpace(v))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "I")
	mult := int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			s = s[:n-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return fmt.Errorf("size %q is not a positive number of bytes such as 67108864 or 64M", v)
	}
	*b = byteSize(n * mult)
	return nil
}
