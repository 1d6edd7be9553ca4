// Command relay is the Switchboard server: agents and dashboards connect to
// it over WebSocket; it keeps the live state, routes commands and
// keystrokes, fans output out, and stores all history in one SQLite file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"switchboard/internal/cli"
	"switchboard/internal/flagenv"
	"switchboard/internal/relay"
	"switchboard/internal/store"
	"switchboard/internal/transport"
	"switchboard/internal/web"
)

var version = "0.1.0"

const summary = `
relay runs the Switchboard server.

Agents connect to /ws/agent, dashboards (the TUI, the CLI, the browser page)
to /ws/dashboard. All history goes to one SQLite file, created if missing,
or to a PostgreSQL database (--store postgres://…). With --ssh-addr it
serves the dashboard and the CLI over SSH too (ssh -p PORT HOST).

Usage: relay [flags]
       relay token create|list|revoke|add-key|remove-key …   (relay token --help)
       relay signin-link                  (relay signin-link --help)
       relay agent list|forget ID …       (relay agent --help; needs --relay and an admin token)`

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "token":
		err = tokenCommand(os.Args[2:], os.Stdout, os.Stderr)
	case len(os.Args) > 1 && os.Args[1] == "signin-link":
		err = signinCommand(os.Args[2:], os.Stdout, os.Stderr)
	case len(os.Args) > 1 && os.Args[1] == "agent":
		// The relay's own view of its agents, through the running relay:
		// the same as tui agents.
		os.Exit(cli.Commands["agents"](context.Background(), cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Version: version}, os.Args[2:]))
	default:
		err = run(os.Args[1:])
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "Address to listen on, host:port. Use :8080 to listen on every interface.")
	storeAt := storeFlags(fs, "Path of the SQLite database file; its directory is created if missing. Same as --store sqlite:PATH.")
	agentTimeout := fs.Duration("agent-timeout", 15*time.Second, "How long an agent may stay silent before it is shown offline.")
	lostAfter := fs.Duration("lost-after", 2*time.Minute, "How long an offline agent's running commands wait for it before they are marked lost.")
	maxConns := fs.Int("max-conns-per-token", 64, "How many connections one token may have open at once; more are closed with 4429.")
	exitWait := fs.Duration("exit-wait", 10*time.Second, "How long an ended command waits for output its agent announced but did not send; then the missing bytes count as lost and the command ends.")
	shutdownWait := fs.Duration("shutdown-timeout", 10*time.Second, "How long a graceful shutdown may take before connections are cut.")
	noAuth := fs.Bool("insecure-no-auth", false, "Turn authentication off: anyone who can connect is an admin. Refused unless --addr is a loopback address.")
	tlsCert := fs.String("tls-cert", "", "PEM certificate file: serve https and wss (with --tls-key).")
	tlsKey := fs.String("tls-key", "", "PEM private key file for --tls-cert.")
	var origins flagenv.Strings
	fs.Var(&origins, "allowed-origin", "A browser origin besides the relay's own whose pages may connect (e.g. https://ops.example.com). Repeatable.")
	maxUnauth := fs.Int("max-unauthenticated", 256, "How many connections may be open at once without having authenticated (TCP connections that sent no request yet, WebSockets before their hello is accepted); more are refused.")
	maxUnauthPerIP := fs.Int("max-unauthenticated-per-ip", 32, "The same limit per remote address (an IPv4 address or an IPv6 /64). Behind a reverse proxy every peer has the proxy's address.")
	authFailures := fs.Int("auth-failures-per-minute", 10, "Failed authentications an address may have in a minute before its connections and logins are refused, unchecked, until its budget refills.")
	var hosts flagenv.Strings
	fs.Var(&hosts, "allowed-host", "A host name the relay is reached by, besides the --addr host, localhost and IP addresses (e.g. relay.example.com); requests for other names are refused, against DNS rebinding. Always checked with --insecure-no-auth; with authentication, once any is given. Repeatable.")
	agentsPerToken := fs.Int("agents-per-token", 1, "How many agents one agent token may register (each is bound to it: no other token may use its id or name).")
	maxLabels := fs.Int("agent-max-labels", 32, "How many labels an agent may declare.")
	maxLabelKey := fs.Int("agent-max-label-key", 64, "Longest label name an agent may declare, in bytes.")
	maxLabelValue := fs.Int("agent-max-label-value", 256, "Longest label value an agent may declare, in bytes.")
	maxSessions := fs.Int("agent-max-sessions", 16, "How many sessions (agent -- PROGRAM) one agent may have open at once.")
	syncMode := fs.String("sync", "full", "How far a commit goes before the relay acknowledges the output in it to its agent, which then forgets it: full (on the disk: survives a power cut) or normal (SQLite syncs at checkpoints, PostgreSQL commits asynchronously: faster, but a power cut may lose the last seconds of acknowledged output).")
	sessionTTL := fs.Duration("session-ttl", 24*time.Hour, "How long a browser stays signed in (at most as long as its token is valid).")
	notifyURL := fs.String("notify-url", "", "An http or https `URL` to POST a JSON event to whenever a command starts or stops waiting for a person (docs/awareness.md): a chat webhook, ntfy, a script. Failed posts are retried; the relay never waits for it.")
	readPoller := fs.Bool("read-poller", true, "Read agents' sockets from a few epoll pollers (Linux, plain TCP) instead of from a goroutine each.")
	pprof := fs.Bool("pprof", false, "Serve Go profiling data at /debug/pprof/ (for diagnosis; exposes internals).")
	logLevel := fs.String("log-level", "info", "Log level: debug, info, warn or error.")
	logFormat := fs.String("log-format", "text", "Log format: text or json. Logs go to standard error.")
	standby := fs.Bool("standby", false, "Be a standby for the relay serving the same store: wait, without listening, for as long as that relay holds the store, and serve once it is gone (one relay at a time serves a store). Without it, a relay finding its store served waits 10 s, then refuses to start. Not with --cluster, whose relays serve a store together.")
	sshOpts := defineSSHFlags(fs)
	retention := defineRetentionFlags(fs)
	clusterOpts := defineClusterFlags(fs)
	fs.Usage = flagenv.Usage(fs, summary)
	if err := flagenv.Apply(fs); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	log, err := flagenv.Logger(os.Stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	if *noAuth && !loopback(*addr) {
		return fmt.Errorf("--insecure-no-auth needs a loopback --addr (127.0.0.1:PORT, [::1]:PORT or localhost:PORT), not %q", *addr)
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("give both --tls-cert and --tls-key, or neither")
	}
	spec, err := storeAt()
	if err != nil {
		return err
	}
	switch *syncMode {
	case "full":
	case "normal":
		spec.asyncCommit = true
	default:
		return fmt.Errorf("--sync %q: want full or normal", *syncMode)
	}
	if err := clusterOpts.check(spec); err != nil {
		return err
	}
	if *standby && clusterOpts.on() {
		return errors.New("--standby is for a relay outside a cluster: relays of a cluster (--cluster) serve one store together")
	}
	retain, err := retention.config()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ctx, lost := context.WithCancelCause(ctx)
	defer lost(nil)
	if !clusterOpts.on() { // relays of a cluster serve the store together
		release, err := lockServing(ctx, spec, *standby, log, lost)
		if err != nil {
			return err
		}
		defer release()
	}
	st, err := spec.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := prepareStore(ctx, st, retain, log); err != nil {
		return err
	}
	if !*noAuth {
		if err := firstStart(ctx, st, spec.adminTokenPath(), log.Warn); err != nil {
			return err
		}
	}
	rcfg := relay.Config{Version: version, Logger: log, AgentTimeout: *agentTimeout, LostAfter: *lostAfter, ExitWait: *exitWait, MaxConnsPerToken: *maxConns,
		NoAuth: *noAuth, AllowedOrigins: origins, NoReadPoller: !*readPoller, Addr: *addr, AllowedHosts: hosts,
		MaxUnauthenticated: *maxUnauth, MaxUnauthenticatedPerAddr: *maxUnauthPerIP, AuthFailuresPerMinute: *authFailures, SessionTTL: *sessionTTL,
		NotifyURL:      *notifyURL,
		AgentsPerToken: *agentsPerToken, MaxLabels: *maxLabels, MaxLabelKey: *maxLabelKey, MaxLabelValue: *maxLabelValue,
		MaxAgentSessions: *maxSessions, Retention: retain, IndexBusyShare: *retention.indexShare}
	bus, err := clusterOpts.connect(ctx, *addr, log)
	if err != nil {
		return err
	}
	if bus != nil {
		defer bus.Close()
		rcfg.Bus = bus
	}
	r, err := relay.New(ctx, rcfg, st)
	if err != nil {
		return err
	}
	serveSSH, err := sshOpts.listen(sshWiring{store: st, spec: spec, relay: r, cfg: rcfg, tls: *tlsCert != "", log: log, version: version})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	handler := web.Handler(log, r.Handler()) // the dashboard page, and the relay for everything else
	if *pprof {
		mux := http.NewServeMux()
		mux.Handle("/", handler)
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
		handler = mux
	}
	srv := &http.Server{Handler: r.Guard(handler), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	r.Serve(srv)
	log.Info("relay listening", "addr", ln.Addr().String(), "store", spec.String(), "version", version, "tls", *tlsCert != "", "auth", !*noAuth)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.Run(gctx) })
	if serveSSH != nil {
		g.Go(func() error { return serveSSH(gctx) })
	}
	g.Go(func() error {
		serve := func() error { return srv.Serve(ln) }
		if *tlsCert != "" { // the Listener lets the relay's engine read and write TLS connections itself
			serve = func() error { return srv.ServeTLS(transport.Listener(ln), *tlsCert, *tlsKey) }
		}
		if err := serve(); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), *shutdownWait)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if cause := context.Cause(ctx); errors.Is(cause, store.ErrServed) {
		return cause
	}
	return nil
}

// loopback reports whether addr's host is a loopback address.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
