// Package sshd serves the dashboard and the CLI over SSH (relay
// --ssh-addr): `ssh -p 2222 relay-host` opens the Bubble Tea dashboard of
// internal/tui in the SSH session's terminal, and `ssh -p 2222 relay-host
// agents --json` runs a subcommand of internal/cli, with no install on
// the user's machine.
//
// Authentication is by public key only: a key logs in as the token it is
// bound to (store.SSHKeys), so the token's role, scope, expiry and
// revocation apply to SSH users exactly as to every other dashboard. For
// each SSH session the server opens a server-side session in the store,
// as a browser's sign-in does (the session id goes in the relay's
// session cookie; only its hash is stored), and the shared dashboard
// client connects to the relay's own HTTP handler through an in-memory
// connection whose remote address is the SSH client's (loopback.go).
// The relay therefore authenticates, authorizes, audits and closes an SSH
// dashboard as it does a browser's; this package knows nothing of its
// internals, only its http.Handler and its cookie's name.
//
// Goroutines. The SSH library runs one goroutine per connection, one for
// its global requests, one per channel (at most SessionsPerKey session
// channels a connection) and one per session handler (Server.handle),
// each ended by the connection or the channel closing.
// Serve starts the watcher (watch.go: reloads keys and tokens, ends the
// sessions whose key, token or relay session is no longer valid) and the
// in-memory HTTP server the dashboards' clients reach the relay through;
// both end when Serve's context does. Each session handler starts: the
// session's keepalive loop (ended with the session, or by the answer to
// the keepalive it is waiting for), for a dashboard the window-size
// forwarder and the Bubble Tea program with the dashboard client (ended
// when the program ends), for an exec the signal forwarder (ended with
// the session) and, with a terminal, a reader for ^C (ended when the
// channel closes).
// Timers, not goroutines, enforce the idle timeout and cut a client that
// stops reading (session.go).
//
// Locks. Server.mu guards the session registry and the per-key counts;
// keyring.mu guards the loaded keys and tokens; connState.mu a
// connection's own state. None is held while taking another, or across
// I/O.
package sshd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"charm.land/ssh"
	"charm.land/wish/v2"
	gossh "golang.org/x/crypto/ssh"

	"switchboard/internal/addrlimit"
	"switchboard/internal/store"
)

// Store is what the SSH server needs of the relay's store: the tokens and
// their keys, server-side sessions, and the audit trail (audit-only
// batches).
type Store interface {
	store.Auth
	store.SSHKeys
	store.Sessions
	Apply(ctx context.Context, b *store.Batch) error
}

// Config sets up a Server. Zero values take the defaults noted.
type Config struct {
	Store Store
	// Relay is the relay's HTTP handler; each session's dashboard client
	// reaches it in-process, authenticated by a server-side session in
	// the cookie named SessionCookie.
	Relay         http.Handler
	SessionCookie string
	// HostKeyPath is the host key's file, created on first start
	// (ed25519, mode 0600) and refused if others may read it.
	HostKeyPath string
	// PageURL is the browser page's address, for the dashboard's sign-in
	// links (?).
	PageURL string
	Version string
	Logger  *slog.Logger // default slog.Default()
	// SessionTTL bounds an SSH session's life, as a browser session's;
	// default 24h, never past its token's expiry.
	SessionTTL time.Duration
	// IdleTimeout ends a dashboard whose user sent nothing (no key, paste,
	// click or resize) for this long; default 1h, negative: never.
	IdleTimeout time.Duration
	// SessionsPerKey bounds the sessions, and the connections, one key may
	// have open at once; default 8.
	SessionsPerKey int
	// Limits before authentication, per remote address and in total, as
	// the relay's own: connections that have not authenticated (default
	// 32 and 256) and failed logins a minute (default 10).
	MaxUnauthenticated, MaxUnauthenticatedPerAddr int
	AuthFailuresPerMinute                         int
}

// Timing constants; docs/security.md lists them.
const (
	handshakeTimeout = 10 * time.Second // connection to authenticated
	writeStall       = 30 * time.Second // a write the client takes nothing of, before it is cut off
	keepAliveEvery   = 30 * time.Second // and the answer's deadline
	watchEvery       = 500 * time.Millisecond
)

func (c *Config) setDefaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.SessionTTL, 24*time.Hour)
	def(&c.IdleTimeout, time.Hour)
	for _, d := range []struct {
		v   *int
		def int
	}{{&c.SessionsPerKey, 8}, {&c.MaxUnauthenticated, 256}, {&c.MaxUnauthenticatedPerAddr, 32}, {&c.AuthFailuresPerMinute, 10}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Version == "" {
		c.Version = "dev"
	}
}

// Server is the SSH front end of one relay.
type Server struct {
	cfg      Config
	log      *slog.Logger
	ssh      *ssh.Server
	hostKey  gossh.Signer
	keys     *keyring
	gate     *addrlimit.Gate
	failures *addrlimit.Failures
	loop     *loopback
	refusals *logLimiter
	// stall and keepAlive are writeStall and keepAliveEvery; tests
	// shorten them.
	stall, keepAlive time.Duration

	mu       sync.Mutex
	sessions map[*session]struct{}
	perKey   map[string]*keyUse // by key fingerprint
}

// keyUse is what one key has open.
type keyUse struct{ conns, sessions int }

// New loads or creates the host key and builds the server.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.Store == nil || cfg.Relay == nil || cfg.SessionCookie == "" || cfg.HostKeyPath == "" {
		return nil, errors.New("ssh server: Store, Relay, SessionCookie and HostKeyPath are required")
	}
	signer, created, err := loadHostKey(cfg.HostKeyPath)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, hostKey: signer, keys: &keyring{store: cfg.Store},
		gate:     addrlimit.NewGate(cfg.MaxUnauthenticatedPerAddr, cfg.MaxUnauthenticated),
		failures: addrlimit.NewFailures(cfg.AuthFailuresPerMinute), loop: newLoopback(),
		refusals: &logLimiter{perMinute: 20}, stall: writeStall, keepAlive: keepAliveEvery,
		sessions: make(map[*session]struct{}), perKey: make(map[string]*keyUse)}
	s.ssh, err = wish.NewServer(
		func(srv *ssh.Server) error { srv.HostSigners = []ssh.Signer{signer}; return nil },
		wish.WithVersion("Switchboard_"+cfg.Version),
		wish.WithMiddleware(func(ssh.Handler) ssh.Handler { return s.handle }),
		func(srv *ssh.Server) error {
			srv.ConnCallback, srv.ServerConfigCallback, srv.HandshakeTimeout = s.connArrived, s.serverConfig, handshakeTimeout
			srv.ChannelHandlers = map[string]ssh.ChannelHandler{"session": s.sessionChannel}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("ssh server: %w", err)
	}
	verb := "loaded"
	if created {
		verb = "created"
	}
	s.log.Info("ssh host key "+verb, "path", cfg.HostKeyPath, "fingerprint", gossh.FingerprintSHA256(signer.PublicKey()))
	return s, nil
}

// HostKey is the server's public host key (for known_hosts).
func (s *Server) HostKey() gossh.PublicKey { return s.hostKey.PublicKey() }

// Serve accepts SSH connections on ln until ctx ends, then closes every
// connection. It returns nil after a shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if _, err := s.keys.refresh(ctx); err != nil {
		return fmt.Errorf("ssh server: load keys: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hs := &http.Server{Handler: s.cfg.Relay, ReadHeaderTimeout: handshakeTimeout,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	var wg sync.WaitGroup
	wg.Go(func() { _ = hs.Serve(s.loop) })
	wg.Go(func() { s.watch(ctx) })
	stop := context.AfterFunc(ctx, func() {
		_ = s.ssh.Close()
		_ = hs.Close()
	})
	defer stop()
	err := s.ssh.Serve(ln)
	cancel()
	_ = hs.Close()
	wg.Wait()
	if errors.Is(err, ssh.ErrServerClosed) || ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("ssh server: %w", err)
}
