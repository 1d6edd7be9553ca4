// Package agent is the Switchboard agent: it keeps a connection to the
// relay, runs the commands the relay sends it, each in its own
// pseudo-terminal, and streams their output back without losing any of it.
//
// Output is held in memory until the relay acknowledges it as stored, so a
// broken connection costs nothing: commands keep running, their output
// accumulates, and on reconnect the agent resends from where the relay left
// off (docs/protocol.md, "Rules an agent must keep"). Memory is bounded;
// when the bound is hit the oldest unacknowledged bytes go first, and the
// relay is told exactly which ones.
//
// An agent may also run a session of its own (agent -- PROGRAM): a program
// started at once that dashboards can watch, type into and resize. When it
// exits the agent reports the exit and keeps serving commands, so that a
// session ending never takes a build machine off the relay.
//
// The agent protects its machine on its own, whatever the relay lets a
// dashboard do: with Config.Allow it refuses commands that match none of
// its patterns, and with Config.NoInput it refuses every keystroke.
//
// It decides, for each running command, whether it needs a person
// (attention.go): its process blocked reading its terminal (Linux), what
// its program says through `agent notify` (notify.go, hooks.go), bells and
// notifications in its output (termscan.go), and silence, which only ever
// makes it quiet. Goroutines: per connection a reader and a writer; per
// command a PTY reader and an input writer; and, started and ended by
// Run, the attention watcher and the agent notify socket's server (with a
// short-lived goroutine per request). Agent.mu is taken before a
// process's own locks.
package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"switchboard/internal/wire"
)

// Config says how an agent registers and behaves. Zero fields take the
// defaults documented on each.
type Config struct {
	// RelayURL is the relay's base address, such as ws://127.0.0.1:8080
	// (http and https work too). The agent endpoint path /ws/agent is added
	// unless the URL already ends with it.
	RelayURL string
	// RelayURLs are more relays of the same system (sharing one store),
	// after RelayURL if both are set. The agent is connected to one at a
	// time: it stays on a relay while the relay works and moves to the next
	// when it cannot reach it, or loses it before the connection was
	// stable (internal/relayring).
	RelayURLs []string
	// Token is the access token sent in hello, when the relay requires one.
	Token string
	// TLS configures wss:// connections, for instance to trust a private
	// certificate authority; nil means Go's defaults (the system's roots).
	TLS *tls.Config
	// Name is the human name the agent registers under; default: hostname.
	Name   string
	Labels map[string]string
	// MaxConcurrent is how many relay commands run at once (the session is
	// not counted); default 4.
	MaxConcurrent int
	// BufferBytes bounds the unacknowledged output held for all commands
	// together; default 64 MiB, and never less than 64 KiB.
	BufferBytes int64
	// ID is the agent's stable id. Empty means: read it from StateDir, or
	// create it there on first run, so it survives restarts.
	ID string
	// StateDir holds the id file agent-<Name>.id; default
	// $XDG_STATE_HOME/switchboard, else ~/.local/state/switchboard.
	StateDir string
	// Session, if set, is a program and its arguments to run at once as a
	// session (see the package comment).
	Session []string
	// Allow, if not empty, limits the commands the relay may start to
	// those whose command line matches at least one of these patterns; any
	// other is rejected before it starts, with a reason that says so. The
	// command line is the argv joined by single spaces, or the shell text.
	// In a pattern "*" matches any run of characters (spaces and slashes
	// too) and "?" exactly one; every other character matches itself. In a
	// shell command "*" and "?" do not match the shell's control
	// characters ; & | < > ( ) $ ` and line breaks, so "make *" cannot
	// smuggle in a second command. The session is the operator's own and
	// is not checked.
	Allow []string
	// AllowEnv names the environment variables a command may set on an
	// agent with Allow, and AllowCwd the working directories (absolute; the
	// directory itself, not those below it) it may run in: otherwise a
	// command that sets either is refused (see allowList).
	AllowEnv []string
	AllowCwd []string
	// NoInput refuses all input from dashboards, to commands and the
	// session alike: they may watch and resize, never type. The relay is
	// told in the agent's registration (no_input), and each refused input
	// is answered with an error.
	NoInput bool
	// QuietAfter is the silence after which a running command that is
	// not known to be busy or waiting is reported "quiet"; default 5s.
	QuietAfter time.Duration
	// RecordInput keeps what dashboards type into commands, with its
	// timing, beside their output, so that replays and asciicast exports
	// can show it. Off by default: typed input can hold passwords.
	RecordInput bool
	// CancelGrace is how long a cancelled or timed-out command has between
	// SIGINT and SIGKILL (SIGTERM and SIGKILL on shutdown); default 5s.
	CancelGrace time.Duration
	// Logger receives the agent's logs; default slog.Default().
	Logger *slog.Logger
	// Version is reported to the relay; default "dev".
	Version string
	// ReconnectMin and ReconnectMax bound the reconnect backoff, which
	// doubles from min to max with jitter; defaults 100ms and 10s.
	ReconnectMin, ReconnectMax time.Duration
}

// Defaults for zero Config fields.
const (
	DefaultMaxConcurrent = 4
	DefaultBufferBytes   = 64 << 20
	DefaultCancelGrace   = 5 * time.Second
	minBufferBytes       = 64 << 10 // two PTY reads, so one read never evicts itself
)

// shutdownFlush is how long Run waits, after every process has ended, for
// their exits to reach the relay.
const shutdownFlush = 2 * time.Second

// Agent runs commands for a relay. Create it with New and start it with Run.
type Agent struct {
	// Static after New.
	cfg       Config
	info      wire.AgentInfo
	endpoints []string // each relay's agent WebSocket URL, in the order given
	allow     allowList
	log       *slog.Logger

	procs    sync.WaitGroup     // one per started process, until its exit is recorded
	stopping context.Context    // done once shutdown begins
	stop     context.CancelFunc // begins it
	ran      atomic.Bool

	mu         sync.Mutex // guards the fields below; taken before process.mu
	cmds       map[string]*command
	order      []*command // cmds in arrival order, so resends are fair and predictable
	buffered   int64      // output bytes held across all commands
	forgotten  recentIDs  // done commands, so a late duplicate start is not run again
	refused    refusals   // when each command's refused input was last answered
	conn       *relayConn // the welcomed connection; nil while disconnected
	notifier   *notifier  // the agent notify socket, set by Run; nil before, or if it could not be made
	shutting   bool       // no new commands; running ones are being stopped
	restarting bool       // a session restart is under way (restartSession)
	drained    bool       // shutting, and every process has ended
}

// New checks cfg, fills in defaults and resolves the agent's stable id.
func New(cfg Config) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	endpoints, err := agentEndpoints(cfg.RelayURL, cfg.RelayURLs)
	if err != nil {
		return nil, err
	}
	if cfg.ID == "" {
		if cfg.ID, err = loadOrCreateID(cfg.StateDir, cfg.Name); err != nil {
			return nil, err
		}
	}
	if !wire.ValidID(cfg.ID) {
		return nil, fmt.Errorf("agent id %q must be 1-255 printable ASCII characters without spaces", cfg.ID)
	}
	allow, err := newAllowList(cfg.Allow, cfg.AllowEnv, cfg.AllowCwd)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:       cfg,
		endpoints: endpoints,
		allow:     allow,
		log:       cfg.Logger.With("agent", cfg.Name),
		cmds:      make(map[string]*command),
	}
	a.stopping, a.stop = context.WithCancel(context.Background())
	a.info = a.agentInfo()
	return a, nil
}

func (c *Config) setDefaults() error {
	if c.Name == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("agent name not set and hostname unknown: %w", err)
		}
		c.Name = host
	}
	if strings.TrimSpace(c.Name) == "" || len(c.Name) > 255 {
		return fmt.Errorf("agent name %q must be 1-255 characters", c.Name)
	}
	if c.StateDir == "" && c.ID == "" {
		dir, err := defaultStateDir()
		if err != nil {
			return err
		}
		c.StateDir = dir
	}
	def(&c.MaxConcurrent, DefaultMaxConcurrent)
	def(&c.BufferBytes, DefaultBufferBytes)
	c.BufferBytes = max(c.BufferBytes, minBufferBytes)
	def(&c.CancelGrace, DefaultCancelGrace)
	def(&c.QuietAfter, DefaultQuietAfter)
	def(&c.ReconnectMin, 100*time.Millisecond)
	def(&c.ReconnectMax, 10*time.Second)
	c.ReconnectMax = max(c.ReconnectMax, c.ReconnectMin)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	return nil
}

func def[T int | int64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// agentEndpoints turns the relays' base URLs into their agent WebSocket
// URLs, without repeats.
func agentEndpoints(first string, more []string) ([]string, error) {
	var out []string
	for _, base := range append([]string{first}, more...) {
		if base == "" {
			continue
		}
		e, err := agentEndpoint(base)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("relay URL is not set")
	}
	return out, nil
}

// agentEndpoint turns the relay's base URL into its agent WebSocket URL.
func agentEndpoint(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("relay URL %q: %w", base, err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("relay URL %q: scheme must be ws, wss, http or https", base)
	}
	if u.Host == "" {
		return "", fmt.Errorf("relay URL %q has no host", base)
	}
	if !strings.HasSuffix(u.Path, wire.AgentPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + wire.AgentPath
	}
	return u.String(), nil
}

func (a *Agent) agentInfo() wire.AgentInfo {
	host, _ := os.Hostname() // informational only
	labels := make(map[string]string, len(a.cfg.Labels))
	for k, v := range a.cfg.Labels {
		labels[k] = v
	}
	return wire.AgentInfo{
		ID: a.cfg.ID, Name: a.cfg.Name, Labels: labels, Hostname: host,
		OS: runtime.GOOS, Arch: runtime.GOARCH, Version: a.cfg.Version,
		MaxConcurrent: a.cfg.MaxConcurrent, NoInput: a.cfg.NoInput, Session: a.cfg.Session,
	}
}

// ID returns the agent's stable id.
func (a *Agent) ID() string { return a.cfg.ID }

// Relay returns the agent WebSocket URL of the relay the agent is
// connected to, or "" while it is not connected.
func (a *Agent) Relay() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn == nil {
		return ""
	}
	return a.conn.endpoint
}

// Run starts the session program, if any, and serves the relay until ctx
// is cancelled, reconnecting forever. It returns an error only if the
// session program cannot be started.
//
// When ctx ends, the agent stops too: every running command gets SIGTERM,
// then SIGKILL after CancelGrace, and ends as "cancelled". The agent then
// waits briefly for those exits to reach the relay, closes the connection
// and returns. Stopping the commands rather than orphaning them is
// deliberate: an agent that is gone can neither stream their output nor
// cancel them, and a restarted agent does not hold them, so the relay
// would report them lost anyway.
func (a *Agent) Run(ctx context.Context) error {
	if !a.ran.CompareAndSwap(false, true) {
		return errors.New("agent: Run called twice")
	}
	defer a.watch()()
	if len(a.cfg.Session) > 0 {
		if err := a.startSession(); err != nil {
			a.shutdown()
			return err
		}
	}
	// The connection outlives ctx a little, so the final exits can go out.
	loopCtx, stopLoop := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoop()
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		a.connectLoop(loopCtx)
	}()

	<-ctx.Done()
	a.log.Info("shutting down; stopping running commands")
	a.shutdown()
	select {
	case <-loopDone:
	case <-time.After(shutdownFlush):
		a.log.Warn("gave up delivering final output to the relay", "waited", shutdownFlush)
	}
	stopLoop()
	<-loopDone
	return nil
}

// watch starts what tells whether commands need a person: the attention
// watcher and the `agent notify` socket, one goroutine each. The function
// it returns stops them and waits for both.
func (a *Agent) watch() (stop func()) {
	n, err := openNotifier()
	if err != nil {
		a.log.Warn("agent notify will not reach this agent", "err", err)
	}
	a.mu.Lock()
	a.notifier = n
	a.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Go(func() { a.watchAttention(ctx) })
	if n != nil {
		bg.Go(func() { n.serve(ctx, a) })
	}
	return func() {
		cancel()
		bg.Wait()
	}
}

// shutdown stops accepting commands, stops every running process and
// waits for them all to end.
func (a *Agent) shutdown() {
	a.mu.Lock()
	a.shutting = true
	a.stop()
	var procs []*process
	for _, c := range a.order {
		if c.proc != nil {
			procs = append(procs, c.proc)
		}
	}
	a.mu.Unlock()

	for _, p := range procs {
		p.stop(wire.StateCanceled, "the agent shut down", syscall.SIGTERM)
	}
	a.procs.Wait()

	a.mu.Lock()
	a.drained = true
	a.notifyLocked()
	a.mu.Unlock()
}
