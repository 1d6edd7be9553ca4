// Package relaytest runs a real relay for tests: a real SQLite file (or,
// with OnPostgres, a PostgreSQL database), a real HTTP server on a
// loopback port, and restarts that keep both the store and the port, as a
// user's relay restart would.
package relaytest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"switchboard/internal/auth"
	"switchboard/internal/relay"
	"switchboard/internal/store"
	"switchboard/internal/store/postgres"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/web"
)

// Relay is a running relay. Stop and Start may be called repeatedly.
type Relay struct {
	t    testing.TB
	cfg  relay.Config
	Addr string // host:port, stable across restarts
	// DBPath is the SQLite file; empty on PostgreSQL.
	DBPath string
	// Store is where history goes, as relay --store takes it: the SQLite
	// file's path, or the PostgreSQL URL.
	Store string

	mu     sync.Mutex
	relay  *relay.Relay
	srv    *http.Server
	store  relayStore
	cancel context.CancelFunc
	done   chan struct{}
}

// relayStore is what a test relay needs of its store: the relay's store
// and the token administration that Token, AgentToken and Revoke do.
type relayStore interface {
	store.Store
	store.Auth
	store.AgentBindings
}

var (
	_ relayStore = (*sqlite.DB)(nil)
	_ relayStore = (*postgres.Store)(nil)
)

// Option chooses where a test relay keeps its history.
type Option func(*Relay)

// OnPostgres keeps the relay's history in the PostgreSQL database at url
// (a schema of the test's own, from pgtest.URL) instead of a new SQLite
// file. Two relays given the same url share one store.
func OnPostgres(url string) Option {
	return func(r *Relay) { r.DBPath, r.Store = "", url }
}

// OnSQLite keeps the relay's history in the SQLite file at path instead
// of a new one; two relays given the same path share it (one at a time:
// SQLite is no store for relays running together).
func OnSQLite(path string) Option {
	return func(r *Relay) { r.DBPath, r.Store = path, path }
}

// Start runs a relay on a fresh database with authentication off; it is
// stopped when the test ends.
func Start(t testing.TB, cfg relay.Config, opts ...Option) *Relay {
	t.Helper()
	cfg.NoAuth = true
	return start(t, cfg, opts)
}

// StartAuth runs a relay with authentication on and returns it with the
// secret of an admin token named "admin".
func StartAuth(t testing.TB, cfg relay.Config, opts ...Option) (*Relay, string) {
	t.Helper()
	cfg.NoAuth = false
	r := start(t, cfg, opts)
	return r, r.Token("admin", store.RoleAdmin, 0)
}

// JoinAuth runs another relay with authentication on, on the store of one
// StartAuth made (OnPostgres with the same URL), whose tokens it uses.
func JoinAuth(t testing.TB, cfg relay.Config, opts ...Option) *Relay {
	t.Helper()
	cfg.NoAuth = false
	return start(t, cfg, opts)
}

// Token creates a token in the relay's database and returns its secret.
// The running relay notices it within its token poll.
func (r *Relay) Token(name, role string, ttl time.Duration) string {
	r.t.Helper()
	secret, tok, err := auth.NewToken(name, role, ttl, time.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.store.CreateToken(context.Background(), tok); err != nil {
		r.t.Fatal(err)
	}
	return secret
}

// ScopedToken creates a token limited to the agents with the labels in
// scope (relay token create --scope) and returns its secret.
func (r *Relay) ScopedToken(name, role string, scope map[string]string) string {
	r.t.Helper()
	secret, tok, err := auth.NewToken(name, role, 0, time.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	tok.Scope = scope
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.store.CreateToken(context.Background(), tok); err != nil {
		r.t.Fatal(err)
	}
	return secret
}

// AgentToken creates an agent token bound to the agent named agent, as
// relay token create --agent does, and returns its secret.
func (r *Relay) AgentToken(name, agent string) string {
	r.t.Helper()
	secret := r.Token(name, store.RoleAgent, 0)
	r.mu.Lock()
	defer r.mu.Unlock()
	b := store.AgentBinding{AgentName: agent, Token: name, Explicit: true, BoundAt: time.Now()}
	if err := r.store.BindAgent(context.Background(), b); err != nil {
		r.t.Fatal(err)
	}
	return secret
}

// Revoke revokes a token in the relay's database.
func (r *Relay) Revoke(name string) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.store.RevokeToken(context.Background(), name, time.Now()); err != nil {
		r.t.Fatal(err)
	}
}

func start(t testing.TB, cfg relay.Config, opts []Option) *Relay {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	db := filepath.Join(t.TempDir(), "switchboard.db")
	r := &Relay{t: t, cfg: cfg, DBPath: db, Store: db}
	for _, o := range opts {
		o(r)
	}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// URL is the relay's base WebSocket URL.
func (r *Relay) URL() string { return "ws://" + r.Addr }

// HTTPURL is the relay's base HTTP URL.
func (r *Relay) HTTPURL() string { return "http://" + r.Addr }

// Start (re)starts the relay on the same store and address.
func (r *Relay) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := r.openStore(ctx)
	if err != nil {
		cancel()
		r.t.Fatalf("open store: %v", err)
	}
	rl, err := relay.New(ctx, r.cfg, st)
	if err != nil {
		r.t.Fatalf("new relay: %v", err)
	}
	ln := r.listen()
	r.Addr = ln.Addr().String()
	srv := &http.Server{Handler: rl.Guard(web.Handler(r.cfg.Logger, rl.Handler()))}
	rl.Serve(srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		wg.Go(func() { _ = rl.Run(ctx) })
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			r.t.Errorf("serve: %v", err)
		}
		wg.Wait()
	}()
	r.srv, r.store, r.cancel, r.done, r.relay = srv, st, cancel, done, rl
}

func (r *Relay) openStore(ctx context.Context) (relayStore, error) {
	if r.DBPath == "" {
		return postgres.Open(ctx, r.Store)
	}
	return sqlite.Open(ctx, r.DBPath)
}

// Instance is the running relay itself, for tests that look inside it
// (through the relay package's export_test.go); nil while stopped.
func (r *Relay) Instance() *relay.Relay {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv == nil {
		return nil
	}
	return r.relay
}

// listen binds the previous address again after a restart; the kernel may
// take a moment to release it.
func (r *Relay) listen() net.Listener {
	addr := r.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var err error
	for range 100 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("listen on %s: %v", addr, err)
	return nil
}

// Stop shuts the relay down gracefully and closes the store.
func (r *Relay) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
	r.cancel()
	<-r.done
	if err := r.store.Close(); err != nil {
		r.t.Errorf("close store: %v", err)
	}
	r.srv = nil
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// Eventually polls cond every 10 ms until it holds or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	EventuallyEvery(t, 10*time.Millisecond, timeout, what, cond)
}

// EventuallyEvery is Eventually polling every interval, for conditions
// that are costly to check.
func EventuallyEvery(t testing.TB, interval, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(interval)
	}
}
