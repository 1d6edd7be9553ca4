package hub

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/store"
	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// Config tunes a Local hub. Zero values take the defaults noted.
type Config struct {
	Version          string        // reported in welcome; default "dev"
	Logger           *slog.Logger  // default slog.Default()
	HeartbeatEvery   time.Duration // agent heartbeat period announced in welcome; default 5s
	LostAfter        time.Duration // offline time after which running commands are lost; default 2m
	TailBytes        int           // output kept in memory per command for resuming; default 1 MiB
	RecentCommands   int           // final commands kept in memory and in snapshots; default 100
	MaxAgentSessions int           // sessions open at once per agent; default 16
	// ExitWait is how long an exit waits for output it announced but that
	// did not come; then the missing bytes count as lost. Default 10s.
	ExitWait time.Duration
	// NotifyURL, if set, is an http(s) URL that gets a JSON NotifyEvent
	// POSTed whenever a command starts or stops waiting (notifyurl.go).
	NotifyURL string
	// Retention, when it sets a limit, removes old finished commands
	// (retention.go).
	Retention Retention
	// Registry gets the hub's metrics.
	Registry prometheus.Registerer
	// Bus, if set, joins this hub to the other relays of a cluster
	// (bus.go, cluster.go); it requires a store they share.
	Bus Bus
	// IndexBusyShare is the share of the time the search indexer may work
	// while the relay's goroutines wait for a CPU (pace.go): default 0.1;
	// 1 lets it run flat out.
	IndexBusyShare float64
}

func (c *Config) setDefaults() {
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.IndexBusyShare <= 0 {
		c.IndexBusyShare = 0.1
	}
	c.IndexBusyShare = min(c.IndexBusyShare, 1)
	if c.HeartbeatEvery <= 0 {
		c.HeartbeatEvery = 5 * time.Second
	}
	if c.LostAfter <= 0 {
		c.LostAfter = 2 * time.Minute
	}
	if c.TailBytes <= 0 {
		c.TailBytes = 1 << 20
	}
	if c.RecentCommands <= 0 {
		c.RecentCommands = 100
	}
	if c.ExitWait <= 0 {
		c.ExitWait = 10 * time.Second
	}
	if c.MaxAgentSessions <= 0 {
		c.MaxAgentSessions = 16
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
}

// Local is the in-process hub: one relay's live state under one lock,
// with output fanned out in memory and history in a store.Store.
type Local struct {
	cfg      Config
	log      *slog.Logger
	store    store.Store
	persist  *persister
	index    *indexer      // nil when the store has no search index
	notifier *notifyPoster // nil without Config.NotifyURL
	metrics  *metrics
	denied   *deniedLog // refusals waiting to be audited in a summary
	retainer *retainer  // nil without Config.Retention's limits

	ctx    context.Context // ends when Run's context ends: store reads give up
	cancel context.CancelFunc

	mu         sync.Mutex // the state lock: guards the fields below
	seq        uint64     // the event counter: last event sequence number
	agents     map[string]*agentState
	commands   map[string]*commandState // live commands and the recent final ones
	recent     []string                 // ids of final commands in memory, oldest first
	dashboards map[*dashboard]struct{}
	snapCache  *snapshotCache

	// With a Bus only (cluster.go, proxy.go):
	bus      Bus
	me       string                // bus.ID()
	dashByID map[string]*dashboard // this relay's dashboards, by the id other relays answer them with
	proxies  map[string]*dashboard // other relays' dashboards, by relay/dashboard id
	ready    chan struct{}         // closed once the shared log before this start is applied
	handoffs sync.WaitGroup        // hand-offs in flight
}

var _ Hub = (*Local)(nil)

// New returns a hub holding the state st was saved with.
func New(cfg Config, st store.Store, state store.State) (*Local, error) {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	h := &Local{
		cfg:        cfg,
		log:        cfg.Logger,
		store:      st,
		ctx:        ctx,
		cancel:     cancel,
		seq:        state.EventSeq,
		agents:     make(map[string]*agentState),
		commands:   make(map[string]*commandState),
		dashboards: make(map[*dashboard]struct{}),
		metrics:    newMetrics(cfg.Registry),
		denied:     newDeniedLog(),
		bus:        cfg.Bus,
		ready:      make(chan struct{}),
	}
	if h.bus == nil {
		close(h.ready)
	} else {
		h.me = h.bus.ID()
		h.dashByID = make(map[string]*dashboard)
		h.proxies = make(map[string]*dashboard)
	}
	h.persist = newPersister(st, h.log, h.metrics, h.onStored)
	if ix, ok := st.(indexStore); ok {
		h.index = newIndexer(ix, h.log, cfg.Registry, cfg.IndexBusyShare)
	}
	cfg.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_agents_online",
			Help: "Agents connected now."}, h.countOnline),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_commands_queued",
			Help: "Commands waiting in the queue."}, h.countQueued),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_store_pending_bytes",
			Help: "Output bytes received but not yet stored."}, h.persist.pendingBytes))
	if cfg.NotifyURL != "" {
		if err := checkNotifyURL(cfg.NotifyURL); err != nil {
			return nil, err
		}
		h.notifier = newNotifyPoster(cfg.NotifyURL, h.log, cfg.Registry)
	}
	if cfg.Retention.on() {
		var err error
		if h.retainer, err = newRetainer(h, st, cfg.Retention, cfg.Registry); err != nil {
			return nil, err
		}
	}
	h.restore(state)
	return h, nil
}

// Run drives the hub's background work (storage, lost commands, the
// --notify-url poster, refusals' audit, retention) until ctx ends; then it calls
// drain, which must end every session, and stores what is left.
func (h *Local) Run(ctx context.Context, drain func()) {
	var bg sync.WaitGroup
	pctx, stopPersist := context.WithCancel(context.WithoutCancel(ctx))
	bg.Go(func() { h.persist.run(pctx) })
	bg.Go(func() { h.watchLiveness(ctx) })
	bg.Go(func() { h.flushDenied(ctx) })
	if h.notifier != nil {
		bg.Go(func() { h.notifier.run(ctx) })
	}
	if h.retainer != nil {
		bg.Go(func() { h.retainer.run(ctx) })
	}
	if h.bus != nil {
		bg.Go(func() { h.bus.Run(pctx, h) }) // past drain: the last agents leaving are published
	}
	if h.index != nil {
		bg.Go(func() { h.index.run(ctx) })
	}
	<-ctx.Done()
	h.cancel()
	drain()
	h.handoffs.Wait()
	stopPersist()
	bg.Wait()
}

// restore rebuilds live state from the store. Every agent starts offline;
// its running commands wait for it to return for LostAfter.
func (h *Local) restore(s store.State) {
	now := time.Now()
	for _, a := range s.Agents {
		a.Status, a.Running = wire.AgentOffline, 0
		h.agents[a.ID] = &agentState{info: a, offlineSince: now, live: make(map[string]*commandState)}
	}
	for i := len(s.Recent) - 1; i >= 0; i-- {
		h.addRecent(h.newCommandState(s.Recent[i]))
	}
	for _, c := range s.Commands {
		cs := h.newCommandState(c)
		cs.stored = true
		if h.bus != nil {
			cs.owner = unknownOwner // until the shared log or an agent says
		}
		h.commands[c.ID] = cs
		if a := h.agents[c.AgentID]; a != nil {
			a.live[c.ID] = cs
			if c.State == wire.StateQueued {
				a.queue = append(a.queue, cs)
			}
		}
	}
	h.log.Info("relay state restored", "agents", len(s.Agents), "live_commands", len(s.Commands), "event_seq", s.EventSeq)
}

func (h *Local) newCommandState(c wire.Command) *commandState {
	cs := &commandState{cmd: c, out: newOutputLog(c.ID, c.OutputBytes, h.cfg.TailBytes), finalStored: make(chan struct{})}
	if c.State.Final() { // loaded from the store
		close(cs.finalStored)
	}
	return cs
}

// watchLiveness marks commands lost whose agent stayed away too long.
func (h *Local) watchLiveness(ctx context.Context) {
	t := time.NewTicker(min(time.Second, h.cfg.LostAfter/4))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			h.loseAbandoned(now)
			if h.bus != nil {
				h.resync(false)
			}
		}
	}
}

func (h *Local) loseAbandoned(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.agents {
		if h.bus != nil && a.conn == nil {
			h.dispatchLocked(a) // retries hand-offs that failed
		}
		if a.conn != nil || a.holder != "" || now.Sub(a.offlineSince) < h.cfg.LostAfter {
			continue
		}
		for _, cs := range a.live {
			if cs.cmd.State == wire.StateRunning && cs.owner == "" {
				reason := fmt.Sprintf("agent %s was offline for more than %s", a.info.Name, h.cfg.LostAfter)
				h.finalizeLocked(cs, wire.Exited{State: wire.StateLost, Reason: reason, EndedAt: now})
			}
		}
	}
}

// countOnline counts connected agents, at scrape time.
func (h *Local) countOnline() float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, a := range h.agents {
		if a.conn != nil {
			n++
		}
	}
	return float64(n)
}

// countQueued counts queued commands, at scrape time.
func (h *Local) countQueued() float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, a := range h.agents {
		n += len(a.queue)
	}
	return float64(n)
}

// broadcastLocked sends an event about an agent (or one of its commands)
// to every dashboard that may see the agent, and to the event log. The
// caller holds h.mu, which is what puts events in one order for all.
func (h *Local) broadcastLocked(agentID, kind, subject string, build func(seq uint64) wire.Message) {
	if h.bus != nil {
		h.publishLocked(agentID, kind, subject, wire.MustEncode(build(0)))
		return
	}
	h.seq++
	data := wire.MustEncode(build(h.seq))
	for d := range h.dashboards {
		if d.who.Scope == nil || h.seesAgentLocked(d.who, agentID) {
			d.peer.Send(transport.Message{Kind: transport.Text, Data: data})
		}
	}
	h.persist.addEvent(store.Event{Seq: h.seq, At: time.Now().UTC(), Kind: kind, Subject: subject, Data: data})
}

// commandChangedLocked persists and broadcasts a command's new state.
func (h *Local) commandChangedLocked(cs *commandState) {
	c := cs.snapshot()
	h.persist.addCommand(c)
	h.broadcastLocked(c.AgentID, wire.TypeCommandEvent, c.ID, func(seq uint64) wire.Message {
		return &wire.CommandEvent{Seq: seq, Command: forDashboards(c)}
	})
}

// agentChangedLocked persists and broadcasts an agent's new state.
func (h *Local) agentChangedLocked(a *agentState) {
	a.refresh()
	info := a.info
	h.persist.addAgent(info)
	h.broadcastLocked(info.ID, wire.TypeAgentEvent, info.ID, func(seq uint64) wire.Message {
		return &wire.AgentEvent{Seq: seq, Agent: info}
	})
}

// onStored runs after each commit: it trims memory, acknowledges stored
// output to the agents that sent it, and dispatches the commands whose
// records are now stored.
func (h *Local) onStored(s stored) {
	// Under h.mu only what needs it: trimming the output logs and
	// writing an ack per stream take long with many streams, and agents'
	// handlers (heartbeats, new commands) would wait for h.mu meanwhile.
	type storedUpTo struct {
		log *outputLog
		out storedOutput
	}
	type ack struct {
		conn Peer
		ack  wire.Ack
	}
	logs := make([]storedUpTo, 0, len(s.output))
	acks := make([]ack, 0, len(s.output)+len(s.final))
	h.mu.Lock()
	for _, id := range s.commands {
		if cs := h.commands[id]; cs != nil && !cs.stored {
			cs.stored = true
			if a := h.agents[cs.cmd.AgentID]; a != nil && cs.cmd.State == wire.StateQueued {
				h.dispatchLocked(a)
			}
		}
	}
	for id, out := range s.output {
		cs := h.commands[id]
		if cs == nil {
			continue
		}
		logs = append(logs, storedUpTo{cs.out, out})
		if ac := h.agentConnLocked(cs.cmd.AgentID); ac != nil {
			acks = append(acks, ack{ac.peer, wire.Ack{CommandID: id, Offset: out.end}})
		}
	}
	for _, c := range s.final {
		h.finalStoredLocked(c.ID)
		if ac := h.agentConnLocked(c.AgentID); ac != nil {
			acks = append(acks, ack{ac.peer, wire.Ack{CommandID: c.ID, Offset: c.OutputBytes, Done: true}})
		}
	}
	h.mu.Unlock()
	if h.index != nil {
		h.index.noteStored(s)
	}
	for _, l := range logs {
		l.log.markStored(l.out.end, l.out.rows)
	}
	for _, a := range acks {
		// Agents are seldom written to: most acks go out in one
		// non-blocking write each, here, rather than on a new goroutine.
		a.conn.SendNow(transport.Message{Kind: transport.Text, Data: wire.MustEncode(&a.ack)})
	}
}

func (h *Local) agentConnLocked(agentID string) *agent {
	if a := h.agents[agentID]; a != nil {
		return a.conn
	}
	return nil
}

// addRecent keeps a final command in memory, forgetting the oldest beyond
// RecentCommands.
func (h *Local) addRecent(cs *commandState) {
	h.commands[cs.cmd.ID] = cs
	h.recent = append(h.recent, cs.cmd.ID)
	for len(h.recent) > h.cfg.RecentCommands {
		delete(h.commands, h.recent[0])
		h.recent = h.recent[1:]
	}
}
