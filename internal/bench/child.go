package bench

import (
	"context"
	"errors"
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

	"switchboard/internal/agent"
	"switchboard/internal/cluster"
	"switchboard/internal/relay"
	"switchboard/internal/store"
	"switchboard/internal/store/postgres"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/tlsconf"
	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// Child runs a relay or an agent and exits if this process was started
// as one of the generator's children; otherwise it returns at once. Call
// it first in main (and in TestMain of tests that run the generator).
//
// The relay child is what cmd/relay builds (the SQLite store, relay.New,
// the relay's handler with /debug/pprof), with authentication off, which
// cmd/relay allows on loopback only; it listens on loopback only. The
// agent child is what cmd/agent builds, in a process of its own as in
// use, so that it shares no Go runtime with the dashboards measuring it.
func Child() {
	switch {
	case os.Getenv(envChild) == "1":
		if err := serveRelay(os.Getenv(envAddr), os.Getenv(envDB), os.Getenv(envTLSCert), os.Getenv(envTLSKey)); err != nil {
			fmt.Fprintln(os.Stderr, "swbench relay:", err)
			os.Exit(1)
		}
	case os.Getenv(envAgentChild) == "1":
		if err := runAgent(os.Getenv(envAgentRelay), os.Getenv(envAgentName), os.Getenv(envAgentDir), os.Getenv(envAgentCA)); err != nil {
			fmt.Fprintln(os.Stderr, "swbench agent:", err)
			os.Exit(1)
		}
	default:
		return
	}
	os.Exit(0)
}

// childContext is what each child starts with: a logger for warnings,
// and a context that ends on SIGTERM or when the generator is gone.
func childContext() (context.Context, *slog.Logger, context.CancelFunc) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, orphaned := context.WithCancel(ctx)
	go exitWithParent(ctx, orphaned)
	return ctx, log, func() { orphaned(); stop() }
}

// runAgent runs a real agent until SIGTERM or the generator's end.
func runAgent(relayURL, name, dir, caFile string) error {
	ctx, log, done := childContext()
	defer done()
	tlsCfg, err := tlsconf.Client(caFile)
	if err != nil {
		return err
	}
	a, err := agent.New(agent.Config{RelayURL: relayURL, TLS: tlsCfg, Name: name, ID: wire.NewID("a"), StateDir: dir, MaxConcurrent: 1,
		CancelGrace: time.Second, Logger: log})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

func serveRelay(addr, dbPath, certFile, keyFile string) error {
	ctx, log, done := childContext()
	defer done()
	if err := raiseFileLimit(); err != nil {
		log.Warn("raise file descriptor limit", "err", err)
	}

	st, bus, err := openChildStore(ctx, dbPath, log)
	if err != nil {
		return err
	}
	defer st.Close()
	// The load generator stands for thousands of machines from one
	// address: the per-address limit on connections waiting for their
	// hello would turn S4's connect storm into retries.
	cfg := relay.Config{Version: "swbench", Logger: log, NoAuth: true,
		MaxUnauthenticated: 1 << 20, MaxUnauthenticatedPerAddr: 1 << 20}
	if bus != nil {
		defer bus.Close()
		cfg.Bus = bus
	}
	r, err := relay.New(ctx, cfg, st)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", r.Handler())
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	r.Serve(srv)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.Run(gctx) })
	g.Go(func() error {
		serve := func() error { return srv.Serve(ln) }
		if certFile != "" { // as cmd/relay serves TLS
			serve = func() error { return srv.ServeTLS(transport.Listener(ln), certFile, keyFile) }
		}
		if err := serve(); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 30*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return g.Wait()
}

// openChildStore opens the relay child's store: the SQLite file, or for
// S7 the PostgreSQL schema and the cluster's bus the environment names.
func openChildStore(ctx context.Context, dbPath string, log *slog.Logger) (store.Store, *cluster.Bus, error) {
	url := os.Getenv(envStore)
	if url == "" {
		st, err := sqlite.Open(ctx, dbPath)
		return st, nil, err
	}
	st, err := postgres.Open(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	bus, err := cluster.Connect(ctx, cluster.Config{URL: os.Getenv(envCluster), ID: os.Getenv(envRelayID), Logger: log})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, bus, nil
}

// exitWithParent ends a child if the generator dies without stopping it.
func exitWithParent(ctx context.Context, stop func()) {
	parent := os.Getppid()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if os.Getppid() != parent {
				stop()
				return
			}
		}
	}
}

// raiseFileLimit lifts this process's open file limit as far as allowed:
// S4 holds over ten thousand sockets on each side.
func raiseFileLimit() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	want := max(lim.Max, 65536)
	if lim.Cur >= want {
		return nil
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}); err == nil {
		return nil
	}
	lim.Cur = lim.Max // without privilege: up to the hard limit
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// fileLimit returns the current soft limit on open files.
func fileLimit() uint64 {
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return uint64(lim.Cur) // int64 on some BSDs
}
