// Package relay owns Switchboard's live state and routing: it accepts agent
// and dashboard WebSocket connections, keeps every agent's status and every
// command's lifecycle, queues commands for busy or offline agents, routes
// commands, keystrokes and resizes to agents, fans output out to the
// dashboards that follow it, broadcasts events to all dashboards in one
// order, and hands everything to a store.Store for history. It keeps each
// running command's attention as its agent reports it, sums it up per
// agent, and can post changes to and from waiting to a URL.
//
// Locks, in the order they are taken: Relay.mu (live state and the event
// order), then persister.mu, then outputLog.mu; dashboard.mu is taken
// before outputLog.mu; the --notify-url queue's lock is a leaf. Goroutines: per connection, a
// reader (or a read poller for many agents) and a writer; per catch-up
// or replay, one of its dashboard's; and, started by Run and ended with
// its context, the persister, the liveness and token watchers, and the
// --notify-url poster (notifyurl.go).
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/auth"
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
	persist  *persister
	notifier *notifyPoster // nil without Config.NotifyURL
	engine   *transport.Engine
	metrics  *metrics
	tokens   *tokens
	sessions store.Sessions // nil when authentication is off
	gate     *gate          // WebSockets not yet authenticated
	tcpGate  *gate          // TCP connections that sent no request yet (where Serve wired it)
	failures *failures      // failed authentications per address
	denied   *deniedLog     // refusals waiting to be audited in a summary
	hosts    hostCheck

	ctx    context.Context // ends when Run's context ends
	cancel context.CancelFunc
	conns  sync.WaitGroup // one per connection handler

	mu         sync.Mutex // guards the fields below
	seq        uint64     // last event sequence number
	agents     map[string]*agentState
	commands   map[string]*commandState // live commands and the recent final ones
	recent     []string                 // ids of final commands in memory, oldest first
	dashboards map[*dashboard]struct{}
	// connsByToken counts open connections per token name.
	connsByToken map[string]int
	snapCache    *snapshotCache
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
		seq:          state.EventSeq,
		agents:       make(map[string]*agentState),
		commands:     make(map[string]*commandState),
		dashboards:   make(map[*dashboard]struct{}),
		metrics:      newMetrics(),
		tokens:       toks,
		sessions:     sessions,
		connsByToken: make(map[string]int),
		gate:         newGate(cfg.MaxUnauthenticatedPerAddr, cfg.MaxUnauthenticated),
		tcpGate:      newGate(tcpGateFactor*cfg.MaxUnauthenticatedPerAddr, tcpGateFactor*cfg.MaxUnauthenticated),
		failures:     newFailures(cfg.AuthFailuresPerMinute),
		denied:       newDeniedLog(),
		hosts:        newHostCheck(cfg),
	}
	r.metrics.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_agents_online",
		Help: "Agents connected now."}, r.countOnline))
	r.persist = newPersister(st, r.log, r.metrics, r.onStored)
	r.metrics.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_store_pending_bytes",
		Help: "Output bytes received but not yet stored."}, r.persist.pendingBytes))
	if cfg.NotifyURL != "" {
		if err := checkNotifyURL(cfg.NotifyURL); err != nil {
			return nil, err
		}
		r.notifier = newNotifyPoster(cfg.NotifyURL, r.log, r.metrics.registry)
	}
	r.engine = transport.NewEngine(transport.Options{Logger: r.log, Registry: r.metrics.registry,
		CheckOrigin: r.checkOrigin, NoReadPoller: cfg.NoReadPoller})
	r.restore(state)
	return r, nil
}

// restore rebuilds live state from the store. Every agent starts offline;
// its running commands wait for it to return for LostAfter.
func (r *Relay) restore(s store.State) {
	now := time.Now()
	for _, a := range s.Agents {
		a.Status, a.Running = wire.AgentOffline, 0
		r.agents[a.ID] = &agentState{info: a, offlineSince: now, live: make(map[string]*commandState)}
	}
	for i := len(s.Recent) - 1; i >= 0; i-- {
		r.addRecent(r.newCommandState(s.Recent[i]))
	}
	for _, c := range s.Commands {
		cs := r.newCommandState(c)
		cs.stored = true
		r.commands[c.ID] = cs
		if a := r.agents[c.AgentID]; a != nil {
			a.live[c.ID] = cs
			if c.State == wire.StateQueued {
				a.queue = append(a.queue, cs)
			}
		}
	}
	r.log.Info("relay state restored", "agents", len(s.Agents), "live_commands", len(s.Commands), "event_seq", s.EventSeq)
}

func (r *Relay) newCommandState(c wire.Command) *commandState {
	cs := &commandState{cmd: c, out: newOutputLog(c.ID, c.OutputBytes, r.cfg.TailBytes), finalStored: make(chan struct{})}
	if c.State.Final() { // loaded from the store
		close(cs.finalStored)
	}
	return cs
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

// Run drives the relay's background work (storage, offline detection)
// until ctx ends, then closes every connection with 1001 and flushes the
// store. It does not close the store.
func (r *Relay) Run(ctx context.Context) error {
	var bg sync.WaitGroup
	pctx, stopPersist := context.WithCancel(context.WithoutCancel(ctx))
	bg.Go(func() { r.persist.run(pctx) })
	bg.Go(func() { r.watchLiveness(ctx) })
	bg.Go(func() { r.watchTokens(ctx) })
	bg.Go(func() { r.flushDenied(ctx) })
	if r.notifier != nil {
		bg.Go(func() { r.notifier.run(ctx) })
	}
	<-ctx.Done()
	r.mu.Lock()
	r.cancel() // under mu: track sees it before it adds to conns
	r.mu.Unlock()
	r.closeAll(wire.CloseGoingAway, "relay shutting down")
	r.conns.Wait()
	r.engine.Stop()
	stopPersist()
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

// shuttingDownLocked closes c if the relay is shutting down. Joins check
// it under r.mu, which closeAll also holds, so no connection slips past.
func (r *Relay) shuttingDownLocked(c *transport.Conn) bool {
	if r.ctx.Err() == nil {
		return false
	}
	c.SetWhy("shutdown")
	c.CloseNow(wire.CloseGoingAway, "relay shutting down")
	return true
}

// closeAll closes every connection.
func (r *Relay) closeAll(code int, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for d := range r.dashboards {
		d.conn.SetWhy("shutdown")
		d.conn.CloseNow(code, reason)
	}
	for _, a := range r.agents {
		if a.conn != nil {
			a.conn.conn.SetWhy("shutdown")
			a.conn.conn.CloseNow(code, reason)
		}
	}
}

// watchLiveness marks commands lost whose agent stayed away too long.
func (r *Relay) watchLiveness(ctx context.Context) {
	t := time.NewTicker(min(time.Second, r.cfg.LostAfter/4))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.loseAbandoned(now)
		}
	}
}

func (r *Relay) loseAbandoned(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.agents {
		if a.conn != nil || now.Sub(a.offlineSince) < r.cfg.LostAfter {
			continue
		}
		for _, cs := range a.live {
			if cs.cmd.State == wire.StateRunning {
				reason := fmt.Sprintf("agent %s was offline for more than %s", a.info.Name, r.cfg.LostAfter)
				r.finalizeLocked(cs, wire.Exited{State: wire.StateLost, Reason: reason, EndedAt: now})
			}
		}
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
		r.gate.leave(addr)
		return
	}
	// The connection goes on in a goroutine of its own and this handler
	// returns: net/http then lets go of what it kept for the request, and
	// of this goroutine's stack, grown deep by the upgrade (S4: 3 kB of
	// every idle connection).
	go r.runConn(c, req, act, session)
}

// runConn is a connection's life after the upgrade.
func (r *Relay) runConn(c *transport.Conn, req *http.Request, act auth.Action, session func(*transport.Conn, *wire.Hello, principal)) {
	defer r.conns.Done()
	c.Start()
	defer func() { <-c.Done() }()
	h, ok := r.readHello(c)
	if !ok {
		r.gate.leave(addrKey(req.RemoteAddr))
		return
	}
	who, ok := r.authorize(c, req, h, act)
	r.gate.leave(addrKey(req.RemoteAddr)) // authenticated, or refused and closing
	if !ok {
		return
	}
	defer r.release(who)
	session(c, h, who)
}

// countOnline counts connected agents, at scrape time.
func (r *Relay) countOnline() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.agents {
		if a.conn != nil {
			n++
		}
	}
	return float64(n)
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

// broadcastLocked sends an event about an agent (or one of its commands)
// to every dashboard that may see the agent, and to the event log. The
// caller holds r.mu, which is what puts events in one order for all.
func (r *Relay) broadcastLocked(agentID, kind, subject string, build func(seq uint64) wire.Message) {
	r.seq++
	data := wire.MustEncode(build(r.seq))
	for d := range r.dashboards {
		if d.who.scope == nil || r.seesAgentLocked(d.who, agentID) {
			d.conn.Send(transport.Message{Kind: transport.Text, Data: data})
		}
	}
	r.persist.addEvent(store.Event{Seq: r.seq, At: time.Now().UTC(), Kind: kind, Subject: subject, Data: data})
}

// commandChangedLocked persists and broadcasts a command's new state.
func (r *Relay) commandChangedLocked(cs *commandState) {
	c := cs.snapshot()
	r.persist.addCommand(c)
	r.broadcastLocked(c.AgentID, wire.TypeCommandEvent, c.ID, func(seq uint64) wire.Message {
		return &wire.CommandEvent{Seq: seq, Command: forDashboards(c)}
	})
}

// agentChangedLocked persists and broadcasts an agent's new state.
func (r *Relay) agentChangedLocked(a *agentState) {
	a.refresh()
	info := a.info
	r.persist.addAgent(info)
	r.broadcastLocked(info.ID, wire.TypeAgentEvent, info.ID, func(seq uint64) wire.Message {
		return &wire.AgentEvent{Seq: seq, Agent: info}
	})
}

// onStored runs after each commit: it trims memory, acknowledges stored
// output to the agents that sent it, and dispatches the commands whose
// records are now stored.
func (r *Relay) onStored(s stored) {
	// Under r.mu only what needs it: trimming the output logs and writing
	// a thousand acks took milliseconds at S1's load, while agents'
	// handlers (heartbeats, new commands) waited for r.mu.
	type storedUpTo struct {
		log *outputLog
		out storedOutput
	}
	type ack struct {
		conn *transport.Conn
		ack  wire.Ack
	}
	logs := make([]storedUpTo, 0, len(s.output))
	acks := make([]ack, 0, len(s.output)+len(s.final))
	r.mu.Lock()
	for _, id := range s.commands {
		if cs := r.commands[id]; cs != nil && !cs.stored {
			cs.stored = true
			if a := r.agents[cs.cmd.AgentID]; a != nil && cs.cmd.State == wire.StateQueued {
				r.dispatchLocked(a)
			}
		}
	}
	for id, out := range s.output {
		cs := r.commands[id]
		if cs == nil {
			continue
		}
		logs = append(logs, storedUpTo{cs.out, out})
		if ac := r.agentConnLocked(cs.cmd.AgentID); ac != nil {
			acks = append(acks, ack{ac.conn, wire.Ack{CommandID: id, Offset: out.end}})
		}
	}
	for _, c := range s.final {
		r.finalStoredLocked(c.ID)
		if ac := r.agentConnLocked(c.AgentID); ac != nil {
			acks = append(acks, ack{ac.conn, wire.Ack{CommandID: c.ID, Offset: c.OutputBytes, Done: true}})
		}
	}
	r.mu.Unlock()
	for _, l := range logs {
		l.log.markStored(l.out.end, l.out.rows)
	}
	for _, a := range acks {
		// Agents are seldom written to: most acks go out in one
		// non-blocking write each, here, rather than on a new goroutine.
		a.conn.SendNow(transport.Message{Kind: transport.Text, Data: wire.MustEncode(&a.ack)})
	}
}

func (r *Relay) agentConnLocked(agentID string) *agentConn {
	if a := r.agents[agentID]; a != nil {
		return a.conn
	}
	return nil
}

// addRecent keeps a final command in memory, forgetting the oldest beyond
// RecentCommands.
func (r *Relay) addRecent(cs *commandState) {
	r.commands[cs.cmd.ID] = cs
	r.recent = append(r.recent, cs.cmd.ID)
	for len(r.recent) > r.cfg.RecentCommands {
		delete(r.commands, r.recent[0])
		r.recent = r.recent[1:]
	}
}
