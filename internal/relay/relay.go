// Package relay is the server's wiring: its HTTP endpoints (the two
// WebSocket endpoints, login, metrics, health), authentication and
// admission, and one session per connection, which reads the
// connection's messages (internal/transport), checks what its role may
// do, and routes requests to the hub (internal/hub), which holds the live
// state and history (internal/store).
//
// Files: relay.go (composition, the connection's life from upgrade to
// session), agentsession.go and dashsession.go (the sessions), auth.go
// (tokens, the role check, admission), identity.go (agent tokens'
// bindings, what an agent may declare), login.go (browser sessions),
// preauth.go (what an unauthenticated peer may cost), host.go (the Host
// check).
//
// Locks, in the order they are taken, over the whole relay: Relay.mu (the
// live sessions and connections per token; nothing else is taken under
// it but a transport.Conn's queue, to close one), then the hub's locks
// (internal/hub), then the transport's (internal/transport). tokens.mu,
// gate.mu and the locks of addrlimit's Gate and Failures are leaves.
//
// Goroutines of this package (the hub's and the transport's are listed
// in their packages):
//
//	goroutine                       started by                     ended by
//	connection (one per WebSocket)  the HTTP handler (serve)       its session's end: the reader returns and the writer is done
//	token watcher                   Run                            Run's context
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"switchboard/internal/addrlimit"
	"switchboard/internal/auth"
	"switchboard/internal/hub"
	"switchboard/internal/store"
	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// Relay is the server. Create it with New, serve Handler, and call Run to
// drive its background work until shutdown.
type Relay struct {
	cfg      Config
	log      *slog.Logger
	store    store.Store
	hub      hub.Hub
	engine   *transport.Engine
	metrics  *metrics
	tokens   *tokens
	sessions store.Sessions      // nil when authentication is off
	gate     *gate               // WebSockets not yet authenticated
	tcpGate  *gate               // TCP connections that sent no request yet (where Serve wired it)
	failures *addrlimit.Failures // failed authentications per address
	hosts    hostCheck

	ctx    context.Context // ends when Run's context ends
	cancel context.CancelFunc
	conns  sync.WaitGroup // one per connection handler

	mu   sync.Mutex                    // guards the fields below
	live map[*transport.Conn]principal // admitted connections, for closing them by token or all at once
	// connsByToken counts open connections per token name.
	connsByToken map[string]int
}

// New loads the persisted state from st and returns a relay ready to serve.
func New(ctx context.Context, cfg Config, st store.Store) (*Relay, error) {
	cfg.setDefaults()
	state, err := st.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("load relay state: %w", err)
	}
	toks := &tokens{}
	var sessions store.Sessions
	if !cfg.NoAuth {
		a, ok := st.(store.Auth)
		if !ok {
			return nil, errors.New("authentication is on but the store keeps no tokens")
		}
		toks.store = a
		if toks.binds, ok = st.(store.AgentBindings); !ok {
			return nil, errors.New("authentication is on but the store keeps no agent bindings")
		}
		if _, err := toks.refresh(ctx); err != nil {
			return nil, fmt.Errorf("load tokens: %w", err)
		}
		if sessions, ok = st.(store.Sessions); !ok {
			return nil, errors.New("authentication is on but the store keeps no browser sessions")
		}
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &Relay{
		cfg:          cfg,
		log:          cfg.Logger,
		store:        st,
		ctx:          rctx,
		cancel:       cancel,
		live:         make(map[*transport.Conn]principal),
		metrics:      newMetrics(),
		tokens:       toks,
		sessions:     sessions,
		connsByToken: make(map[string]int),
		gate:         newGate(cfg.MaxUnauthenticatedPerAddr, cfg.MaxUnauthenticated),
		tcpGate:      newGate(tcpGateFactor*cfg.MaxUnauthenticatedPerAddr, tcpGateFactor*cfg.MaxUnauthenticated),
		failures:     addrlimit.NewFailures(cfg.AuthFailuresPerMinute),
		hosts:        newHostCheck(cfg),
	}
	if r.hub, err = hub.New(hub.Config{Version: cfg.Version, Logger: cfg.Logger, HeartbeatEvery: cfg.HeartbeatEvery,
		LostAfter: cfg.LostAfter, TailBytes: cfg.TailBytes, RecentCommands: cfg.RecentCommands,
		MaxAgentSessions: cfg.MaxAgentSessions, ExitWait: cfg.ExitWait, NotifyURL: cfg.NotifyURL,
		Retention: cfg.Retention, Registry: r.metrics.registry, Bus: cfg.Bus, IndexBusyShare: cfg.IndexBusyShare}, st, state); err != nil {
		return nil, err
	}
	r.engine = transport.NewEngine(transport.Options{Logger: r.log, Registry: r.metrics.registry,
		CheckOrigin: r.checkOrigin, NoReadPoller: cfg.NoReadPoller})
	return r, nil
}

// Handler serves the WebSocket endpoints and /healthz.
func (r *Relay) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.AgentPath, r.serveAgent)
	mux.HandleFunc("GET "+wire.DashboardPath, r.serveDashboard)
	mux.Handle("GET /metrics", r.metrics.handler())
	mux.HandleFunc("POST /api/login", r.handleLogin)
	mux.HandleFunc("POST /api/logout", r.handleLogout)
	mux.HandleFunc("GET /api/whoami", r.handleWhoami)
	mux.HandleFunc("GET /api/commands/{id}/asciicast", r.handleAsciicast)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	return r.Guard(mux)
}

// Run drives the relay's background work (the hub's, and the token
// watcher) until ctx ends, then closes every connection with 1001 and
// flushes the store. It does not close the store.
func (r *Relay) Run(ctx context.Context) error {
	var bg sync.WaitGroup
	bg.Go(func() { r.watchTokens(ctx) })
	r.hub.Run(ctx, func() {
		r.mu.Lock()
		r.cancel() // under mu: track and enter see it before they count a connection
		r.mu.Unlock()
		r.closeAll(wire.CloseGoingAway, "relay shutting down")
		r.conns.Wait()
		r.engine.Stop()
	})
	bg.Wait()
	return nil
}

// track counts a connection handler for Run to wait for; it reports false
// once shutdown has begun.
func (r *Relay) track() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return false
	}
	r.conns.Add(1)
	return true
}

// enter records an admitted connection, unless shutdown has begun (then
// it closes c). closeAll holds mu too, so no connection slips past it.
func (r *Relay) enter(c *transport.Conn, who principal) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		c.SetWhy("shutdown")
		c.CloseNow(wire.CloseGoingAway, "relay shutting down")
		return false
	}
	r.live[c] = who
	return true
}

// leave undoes enter.
func (r *Relay) leave(c *transport.Conn) {
	r.mu.Lock()
	delete(r.live, c)
	r.mu.Unlock()
}

// closeAll closes every connection.
func (r *Relay) closeAll(code int, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.live {
		c.SetWhy("shutdown")
		c.CloseNow(code, reason)
	}
}

// upgrade turns an HTTP request into a connection, counted until it closes.
func (r *Relay) upgrade(w http.ResponseWriter, req *http.Request, kind string, readTimeout time.Duration) (*transport.Conn, bool) {
	if !r.track() {
		http.Error(w, "relay shutting down", http.StatusServiceUnavailable)
		return nil, false
	}
	// Agents' handlers never wait (dashboards' may read the store), so a
	// read poller can run them for many sockets from one goroutine.
	c, err := r.engine.Upgrade(w, req, transport.Accept{Kind: kind, ReadTimeout: readTimeout,
		MaxPending: r.cfg.SendQueueBytes, Polled: kind == kindAgent})
	if err != nil {
		r.conns.Done()
		r.log.Warn("websocket upgrade failed", "remote", req.RemoteAddr, "path", req.URL.Path, "err", err)
		return nil, false
	}
	return c, true
}

// serve runs one WebSocket connection: upgrade, writer, hello and
// admission, then session until the peer is gone. The writer outlives the
// session just long enough to flush and close.
func (r *Relay) serve(w http.ResponseWriter, req *http.Request, kind string, readTimeout time.Duration,
	act auth.Action, session func(*transport.Conn, *wire.Hello, principal)) {
	addr, ok := r.admitUnauthenticated(w, req)
	if !ok {
		return
	}
	c, ok := r.upgrade(w, req, kind, readTimeout)
	if !ok {
		r.gate.Leave(addr)
		return
	}
	// The connection goes on in a goroutine of its own and this handler
	// returns: net/http then lets go of what it kept for the request, and
	// of this goroutine's stack, grown deep by the upgrade, which every
	// idle connection would otherwise keep.
	go r.runConn(c, req, act, session)
}

// runConn is a connection's life after the upgrade.
func (r *Relay) runConn(c *transport.Conn, req *http.Request, act auth.Action, session func(*transport.Conn, *wire.Hello, principal)) {
	defer r.conns.Done()
	c.Start()
	defer func() { <-c.Done() }()
	h, ok := r.readHello(c)
	if !ok {
		r.gate.Leave(addrKey(req.RemoteAddr))
		return
	}
	who, ok := r.authorize(c, req, h, act)
	r.gate.Leave(addrKey(req.RemoteAddr)) // authenticated, or refused and closing
	if !ok {
		return
	}
	defer r.release(who)
	if !r.enter(c, who) {
		return
	}
	defer r.leave(c)
	session(c, h, who)
}

// readHello waits for the connection's hello. It answers a bad or
// incompatible one with an error and the matching close code.
func (r *Relay) readHello(c *transport.Conn) (*wire.Hello, bool) {
	kind, data, err := c.ReadFirst(r.cfg.HandshakeTimeout)
	if errors.Is(err, wire.ErrTooLarge) {
		return nil, false // refused with its reason
	}
	if err != nil {
		c.SetWhy("handshake")
		c.CloseNow(wire.CloseBadHandshake, "no hello received")
		return nil, false
	}
	fail := func(code int, errCode, msg string) (*wire.Hello, bool) {
		c.SetWhy("handshake")
		c.SendError(errCode, msg, "", "")
		c.Close(code, msg)
		return nil, false
	}
	if kind != transport.Text || len(data) > wire.MaxMessageSize {
		return fail(wire.CloseBadHandshake, wire.CodeBadHandshake, "the first message must be a JSON hello")
	}
	m, err := wire.Decode(data)
	if err != nil {
		return fail(wire.CloseBadHandshake, wire.CodeBadHandshake, "bad hello: "+err.Error())
	}
	h, ok := m.(*wire.Hello)
	if !ok {
		return fail(wire.CloseBadHandshake, wire.CodeBadHandshake, fmt.Sprintf("the first message must be hello, not %s", m.MessageType()))
	}
	if h.Protocol != wire.ProtocolVersion {
		msg := fmt.Sprintf("protocol version %d is not supported; this relay speaks %d", h.Protocol, wire.ProtocolVersion)
		return fail(wire.CloseUnsupportedVersion, wire.CodeUnsupportedVersion, msg)
	}
	return h, true
}
