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
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"switchboard/internal/flagenv"
	"switchboard/internal/relay"
	"switchboard/internal/store/sqlite"
)

var version = "0.1.0"

const summary = `
relay runs the Switchboard server.

Agents connect to /ws/agent, dashboards (the TUI, the CLI, the browser page)
to /ws/dashboard. All history goes to one SQLite file, created if missing.

Usage: relay [flags]`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "Address to listen on, host:port. Use :8080 to listen on every interface.")
	dbPath := fs.String("db", "var/switchboard.db", "Path of the SQLite database file; its directory is created if missing.")
	agentTimeout := fs.Duration("agent-timeout", 15*time.Second, "How long an agent may stay silent before it is shown offline.")
	lostAfter := fs.Duration("lost-after", 2*time.Minute, "How long an offline agent's running commands wait for it before they are marked lost.")
	shutdownWait := fs.Duration("shutdown-timeout", 10*time.Second, "How long a graceful shutdown may take before connections are cut.")
	pprof := fs.Bool("pprof", false, "Serve Go profiling data at /debug/pprof/ (for diagnosis; exposes internals).")
	logLevel := fs.String("log-level", "info", "Log level: debug, info, warn or error.")
	logFormat := fs.String("log-format", "text", "Log format: text or json. Logs go to standard error.")
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := os.MkdirAll(filepath.Dir(*dbPath), 0o755); err != nil {
		return fmt.Errorf("create database directory: %w", err)
	}
	st, err := sqlite.Open(ctx, *dbPath)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := relay.New(ctx, relay.Config{Version: version, Logger: log, AgentTimeout: *agentTimeout, LostAfter: *lostAfter}, st)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	handler := r.Handler()
	if *pprof {
		mux := http.NewServeMux()
		mux.Handle("/", handler)
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
		handler = mux
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	log.Info("relay listening", "addr", ln.Addr().String(), "db", *dbPath, "version", version)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.Run(gctx) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
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
	return g.Wait()
}
