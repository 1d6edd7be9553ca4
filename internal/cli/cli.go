// Package cli owns the scriptable subcommands of the tui program (agents,
// run, history, logs, cancel, audit, session restart, wait, reply, export,
// replay, search):
// each connects with the shared dashboard client, does one thing, prints plain
// text or JSON, and exits with a code a script can test.
//
// Goroutines: replay, in the user's terminal, reads its keys in one
// goroutine (replayTerm.readKeys) that the replay's end cancels and waits
// for; nothing else here starts one beyond the client's.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/flagenv"
	"switchboard/internal/safetext"
	"switchboard/internal/wire"
)

// Exit codes for outcomes that have no exit status of their own; they
// follow the shell's conventions where one exists.
const (
	ExitUsage    = 2
	ExitTimedOut = 124 // like timeout(1)
	ExitRejected = 127 // the command could not be started
	ExitCanceled = 130 // like a shell after ^C
	ExitLost     = 255
)

// Env is what a subcommand runs against.
type Env struct {
	Stdout, Stderr io.Writer
	Version        string
	// Remote, when set, is the connection to the relay, made by a front
	// end that authenticated the user itself (the relay's SSH server):
	// subcommands then offer no connection flags (--relay, --token,
	// --token-file, --ca: nothing of the relay's machine is the user's
	// to name) and read nothing from this process's environment.
	Remote *client.Config
	// Interrupt, when set, stands for ^C instead of SIGINT and SIGTERM:
	// the SSH server sends a session's interrupts.
	Interrupt <-chan os.Signal
}

// Commands lists the subcommands by name.
var Commands = map[string]func(ctx context.Context, env Env, args []string) int{
	"agents":  agents,
	"run":     run,
	"history": history,
	"logs":    logs,
	"cancel":  cancel,
	"audit":   audit,
	"session": session,
	"wait":    wait,
	"reply":   reply,
	"export":  export,
	"replay":  replay,
	"search":  search,
}

// Usage describes the subcommands, and how they reach the relay.
const Usage = Subcommands + `
Every subcommand takes --relay URL, --token or --token-file, and --ca
(environment SWITCHBOARD_RELAY, SWITCHBOARD_TOKEN, SWITCHBOARD_TOKEN_FILE,
SWITCHBOARD_CA). Several relays of one system (--relay a,b or repeated)
fail over: run, logs --follow and wait carry on at the next one.`

// Subcommands lists the subcommands.
const Subcommands = `Subcommands:
  agents  [--json]                         list agents
  agents  forget ID|NAME...                forget offline agents (admin tokens only)
  run     [--agent NAME|ID]... [--label k=v]... [--timeout D] -- CMD [ARGS...]
                                           run a command and stream its output
  history [--agent NAME] [--limit N] [--json]
                                           list past and running commands
  logs    [--follow] COMMAND_ID             print a command's stored output
  cancel  COMMAND_ID                        stop a queued or running command
  session restart AGENT                     start an agent's session program again
  export  COMMAND_ID [-o FILE] [--input]    write a command's recording as asciicast v2
  replay  COMMAND_ID [--speed N] [--idle-limit D]
                                           play a command's recording in this terminal
  search  QUERY [--agent A] [--label k=v]... [--since D] [--limit N] [--context N] [--json]
                                           find lines of stored output, newest first
  audit   [--limit N] [--json]               the audit trail (admin tokens only)
  wait    --agent NAME --for waiting|idle [--timeout D]
                                           wait until an agent needs you, or is done
  reply   (--agent NAME | --command ID) [--no-enter] [TEXT]
                                           answer a waiting command: TEXT, then Enter`

// common holds the flags every subcommand has.
type common struct {
	relays               *flagenv.List // --relay: one or several relays of one system
	token, tokenFile, ca string
	remote               *client.Config // Env.Remote
}

func newFlags(name string, env Env, synopsis string) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	c := &common{remote: env.Remote}
	if c.remote != nil {
		fs.Usage = func() {
			fmt.Fprintln(env.Stderr, strings.TrimSpace(synopsis)+"\n\nFlags:")
			fs.PrintDefaults()
		}
		return fs, c
	}
	c.register(fs)
	fs.Usage = flagenv.Usage(fs, synopsis)
	return fs, c
}

// parse applies environment defaults and parses args; it returns a non-nil
// exit code when the caller should stop. A flag set without the
// connection flags is a remote run's (newFlags), which takes nothing
// from this process's environment.
func parse(fs *flag.FlagSet, args []string) *int {
	code := 0
	if remote := fs.Lookup("relay") == nil; !remote {
		if err := flagenv.Apply(fs); err != nil {
			fmt.Fprintln(fs.Output(), err)
			code = ExitUsage
			return &code
		}
	}
	if err := fs.Parse(args); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			code = ExitUsage
		}
		return &code
	}
	return nil
}

// register defines the connection flags on fs.
func (c *common) register(fs *flag.FlagSet) {
	c.relays = flagenv.NewList("ws://127.0.0.1:8080")
	fs.Var(c.relays, "relay", RelayUsage)
	fs.StringVar(&c.token, "token", "", "Access token. Prefer --token-file or the environment: a flag shows in ps.")
	fs.StringVar(&c.tokenFile, "token-file", "", "File holding the access token.")
	fs.StringVar(&c.ca, "ca", "", "PEM file of a certificate authority to trust for wss:// (besides the system's).")
}

// Config turns the connection flags into a client configuration (or
// gives the remote one, which keeps its own client name if it has one).
func (c *common) Config(clientName string) (client.Config, error) {
	if c.remote != nil {
		cfg := *c.remote
		if cfg.Client == "" {
			cfg.Client = clientName
		}
		return cfg, nil
	}
	token, err := flagenv.LoadToken(c.token, c.tokenFile)
	if err != nil {
		return client.Config{}, err
	}
	dialer, err := client.TLSDialer(c.ca)
	if err != nil {
		return client.Config{}, err
	}
	relays := c.relays.Values()
	return client.Config{Relay: relays[0], Relays: relays[1:], Client: clientName, Token: token, Dialer: dialer}, nil
}

// RelayUsage is the help of --relay, for the dashboard and every
// subcommand.
const RelayUsage = "Relay `address`, ws://HOST:PORT or wss://HOST:PORT. Give several relays of one system (sharing one store) " +
	"to fail over: repeat the flag or separate them with commas. The first that answers is used; when it is lost, " +
	"the dashboard, tui run, tui logs --follow and tui wait move to the next and carry on where they were."

func (c *common) dial(ctx context.Context, env Env) (*client.Client, error) {
	return c.dialWith(ctx, env, false)
}

// dialFollowing dials for a subcommand that follows output (run, logs
// --follow): with relays of its own to name, the client reconnects, to
// the same relay or the next, and resumes where it was; a relay that
// cannot be reached at the start still fails at once. A remote run's
// connection is its front end's, which ends with it.
func (c *common) dialFollowing(ctx context.Context, env Env) (*client.Client, error) {
	return c.dialWith(ctx, env, c.remote == nil)
}

func (c *common) dialWith(ctx context.Context, env Env, reconnect bool) (*client.Client, error) {
	cfg, err := c.Config("switchboard-cli/" + env.Version)
	if err != nil {
		return nil, err
	}
	cfg.Reconnect, cfg.ConnectFirst = reconnect, reconnect
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cl, err := client.Dial(dctx, cfg)
	return cl, ExplainDial(err, cfg.Token != "")
}

// ExplainDial adds to a refusal what a user of the tui program does about
// it: the relay speaks of hello.token, the user of flags and variables.
func ExplainDial(err error, haveToken bool) error {
	var e *wire.Error
	if !errors.As(err, &e) || e.Code != wire.CodeUnauthorized {
		return err
	}
	if !haveToken {
		return fmt.Errorf("the relay needs an access token: give --token-file FILE (or SWITCHBOARD_TOKEN_FILE), "+
			"or --token TOKEN (or SWITCHBOARD_TOKEN); its administrator makes one with relay token create (%w)", err)
	}
	return fmt.Errorf("the relay refused the access token: %s (%w)", e.Message, err)
}

// noteConn tells stderr, once per outage, that the connection to the
// relay was lost and where it tries next, and when it is back, on which
// relay. down is the caller's, false to begin with.
func noteConn(env Env, name string, ev client.ConnState, down *bool) {
	switch {
	case ev.State == client.Reconnecting && !*down:
		*down = true
		fmt.Fprintln(env.Stderr, esc(fmt.Sprintf("%s: lost the relay %s (%s); reconnecting to %s", name, ev.Failed, client.Reason(ev.Err), ev.Relay)))
	case ev.State == client.Connected && *down:
		*down = false
		if ev.From != "" {
			fmt.Fprintln(env.Stderr, esc(fmt.Sprintf("%s: moved to the relay %s; carrying on", name, ev.Relay)))
		} else {
			fmt.Fprintln(env.Stderr, esc(fmt.Sprintf("%s: reconnected to the relay %s; carrying on", name, ev.Relay)))
		}
	}
}

// fail prints a message, which may quote the relay, escaped.
func fail(env Env, format string, args ...any) int {
	fmt.Fprintln(env.Stderr, esc(fmt.Sprintf(format, args...)))
	return 1
}

// parseInterleaved is parse for flags anywhere among args (agents forget
// ID --token-file F); it returns the other arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, *int) {
	var pos []string
	for {
		if code := parse(fs, args); code != nil {
			return nil, code
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
}

// printJSON prints v exactly, with the characters a terminal would act
// on escaped as JSON allows (see safetext.JSON).
func printJSON(env Env, v any) int {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fail(env, "write json: %v", err)
	}
	if _, err := env.Stdout.Write(append(safetext.JSON(b), '\n')); err != nil {
		return fail(env, "write json: %v", err)
	}
	return 0
}

func formatLabels(l map[string]string) string {
	parts := make([]string, 0, len(l))
	for k, v := range l {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}
