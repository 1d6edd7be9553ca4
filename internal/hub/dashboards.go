package hub

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"switchboard/internal/wire"
)

// Limits of a dashboard's output subscriptions.
const (
	catchUpRead   = wire.MaxChunk
	catchUpPoll   = 20 * time.Millisecond // how often a caught-up catch-up checks a lagging dashboard again
	catchUpWindow = 8                     // catch-up frames in flight per dashboard
	snapshotPart  = 256 << 10             // target encoded size of one snapshot message
)

// dashboard is one connected dashboard: the hub's side of its session.
type dashboard struct {
	h        *Local
	peer     Peer
	who      Actor
	client   string               // who it says it is, for requested_by
	typing   map[string]bool      // commands it has typed into; owned by the reader
	refused  map[string]time.Time // when refused input to each command was last answered; owned by the reader
	catchUp  chan struct{}        // tokens for catch-up frames in flight
	released func()
	replays  sync.WaitGroup // catch-up goroutines, ended before the dashboard is forgotten

	mu   sync.Mutex               // guards subs and remotes; taken before outputLog.mu
	subs map[string]*dashboardSub // by command id
	// With a Bus (proxy.go): its id, which other relays answer it with;
	// the relays it forwarded requests to (told when it leaves); for a
	// proxy of another relay's dashboard, that relay.
	id      string
	remotes map[string]bool
	proxyOf string
}

// dashboardSub is one subscription: a catch-up goroutine reads stored
// output while the reader goes on serving the dashboard; then the
// subscription lives on in the command's outputLog.
type dashboardSub struct {
	out     *outputLog    // nil until attached, and for a command not in memory
	stopped chan struct{} // closed by unsubscribe, resubscribe or disconnect
	// next is the offset the dashboard needs next, as far as the catch-up
	// (or, forwarded, the owner) has sent; once attached, the log's
	// subscription counts. A subscription forwarded to the command's owner
	// (proxy.go): the owner ("" until one is known), and whether frames
	// are ignored until the owner's subscribed.
	next      int64
	isRemote  bool
	remote    string
	resyncing bool
	askedAt   time.Time // when the owner was last asked for it
}

// stop ends the subscription: its catch-up, if running, and its place in
// the output log. Called with d.mu held.
func (s *dashboardSub) stop(d *dashboard) {
	close(s.stopped)
	if s.out != nil {
		s.out.detach(d)
	}
}

// JoinDashboard registers a dashboard for events and sends welcome and
// the snapshot under the state lock, so no event falls between them.
// client names who asked for the commands it runs (requested_by).
func (h *Local) JoinDashboard(peer Peer, who Actor, client string) Dashboard {
	if h.bus != nil {
		h.awaitReady()
	}
	d := h.newDashboard(peer, who, client)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shuttingDownLocked(peer) {
		return nil
	}
	h.dashboards[d] = struct{}{}
	if h.bus != nil {
		d.id = wire.NewID("d")
		h.dashByID[d.id] = d
	}
	peer.SendMessage(&wire.Welcome{Protocol: wire.ProtocolVersion, Relay: h.cfg.Version, HeartbeatMS: h.cfg.HeartbeatEvery.Milliseconds()})
	parts := h.snapshotPartsLocked()
	if who.Scope != nil {
		parts = h.scopedSnapshotLocked(who)
	}
	for _, part := range parts {
		peer.SendFree(part)
	}
	return d
}

func (h *Local) newDashboard(peer Peer, who Actor, client string) *dashboard {
	d := &dashboard{h: h, peer: peer, who: who, client: client, subs: make(map[string]*dashboardSub),
		catchUp: make(chan struct{}, catchUpWindow), typing: make(map[string]bool)}
	d.released = func() { <-d.catchUp }
	return d
}

// Leave forgets a dashboard whose connection is over: its subscriptions
// end, its catch-ups are waited for, and it gives up its control of the
// commands it typed into.
func (d *dashboard) Leave() {
	h := d.h
	h.mu.Lock()
	delete(h.dashboards, d)
	if d.id != "" {
		delete(h.dashByID, d.id)
	}
	h.mu.Unlock()
	d.mu.Lock()
	for id, sub := range d.subs {
		sub.stop(d)
		delete(d.subs, id)
	}
	remotes := d.remotes
	d.remotes = nil
	d.mu.Unlock()
	for relay := range remotes {
		h.bus.Forward(relay, ProxyRequest{Dash: d.id, Op: OpLeave})
	}
	d.replays.Wait()
	h.inputEnded(d)
}

func (d *dashboard) Run(m *wire.Run)                       { d.h.run(d, m) }
func (d *dashboard) Subscribe(m *wire.Subscribe)           { d.h.subscribe(d, m) }
func (d *dashboard) Input(f wire.Frame, raw []byte)        { d.h.dashboardInput(d, f, raw) }
func (d *dashboard) RestartSession(m *wire.RestartSession) { d.h.restartSession(d, m) }

func (d *dashboard) Resize(m *wire.Resize) {
	if !d.h.forward(d, m.CommandID, OpResize, m) {
		d.h.resize(d, m)
	}
}

func (d *dashboard) Cancel(m *wire.Cancel) {
	if !d.h.forward(d, m.CommandID, OpCancel, m) {
		d.h.cancelCommand(d, m)
	}
}

func (d *dashboard) QuickReply(m *wire.QuickReply) {
	if m.CommandID == "" || !d.h.forward(d, m.CommandID, OpReply, m) {
		d.h.quickReply(d, m)
	}
}

func (d *dashboard) ForgetAgent(m *wire.AgentForget) (string, bool) { return d.h.dropAgent(d, m) }

// run creates one queued command per selected agent and dispatches them.
func (h *Local) run(d *dashboard, m *wire.Run) {
	now := time.Now().UTC()
	h.mu.Lock()
	defer h.mu.Unlock()
	var targets []*agentState
	for _, a := range h.agents {
		if m.Targets.Matches(a.info.AgentInfo) {
			targets = append(targets, a)
		}
	}
	if len(targets) == 0 {
		d.peer.SendError(wire.CodeNoTargets, fmt.Sprintf("no known agent matches %s", describeTargets(m.Targets)), m.RequestID, "")
		return
	}
	for _, a := range targets {
		if !h.seesAgentLocked(d.who, a.info.ID) {
			msg := outOfScope(d.who, a)
			h.AuditDenied(d.who, "run", a.info.ID, msg)
			d.peer.SendError(wire.CodeForbidden, msg, m.RequestID, "")
			return
		}
	}
	slices.SortFunc(targets, func(a, b *agentState) int { return strings.Compare(a.info.Name, b.info.Name) })
	accepted := &wire.RunAccepted{RequestID: m.RequestID, Commands: make([]wire.Command, 0, len(targets))}
	created := make([]*commandState, 0, len(targets))
	for _, a := range targets {
		cs := h.newCommandState(wire.Command{ID: wire.NewID("c"), AgentID: a.info.ID, AgentName: a.info.Name,
			CommandSpec: m.CommandSpec, State: wire.StateQueued, RequestedBy: d.client, CreatedAt: now})
		h.commands[cs.cmd.ID] = cs
		a.live[cs.cmd.ID] = cs
		a.queue = append(a.queue, cs)
		created = append(created, cs)
		accepted.Commands = append(accepted.Commands, forDashboards(cs.cmd))
	}
	d.peer.SendMessage(accepted)
	for i, cs := range created {
		h.Audit(d.who, "run", cs.cmd.ID, "ok", "on "+cs.cmd.AgentName+": "+cs.cmd.CommandSpec.Line())
		h.commandChangedLocked(cs)
		h.dispatchLocked(targets[i])
	}
}

func describeTargets(t wire.Targets) string {
	var parts []string
	if len(t.Agents) > 0 {
		parts = append(parts, "agents "+strings.Join(t.Agents, ", "))
	}
	for k, v := range t.Labels {
		parts = append(parts, "label "+k+"="+v)
	}
	return strings.Join(parts, " or ")
}

// runningLocked returns the command if it is running on a connected agent.
func (h *Local) runningLocked(d *dashboard, id string) (*commandState, *agent) {
	cs := h.commands[id]
	if cs == nil || !h.seesAgentLocked(d.who, cs.cmd.AgentID) {
		d.peer.SendError(wire.CodeNotFound, fmt.Sprintf("no command %q", id), "", id)
		return nil, nil
	}
	if cs.cmd.State != wire.StateRunning {
		d.peer.SendError(wire.CodeNotRunning, fmt.Sprintf("command %s is %s, not running", id, cs.cmd.State), "", id)
		return nil, nil
	}
	ac := h.agentConnLocked(cs.cmd.AgentID)
	if ac == nil {
		d.peer.SendError(wire.CodeNotRunning, fmt.Sprintf("agent %s of command %s is offline", cs.cmd.AgentName, id), "", id)
		return nil, nil
	}
	return cs, ac
}

func (h *Local) resize(d *dashboard, m *wire.Resize) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cs, ac := h.runningLocked(d, m.CommandID); ac != nil {
		ac.peer.SendMessage(m)
		if cs.cmd.Cols != m.Cols || cs.cmd.Rows != m.Rows {
			cs.cmd.Cols, cs.cmd.Rows = m.Cols, m.Rows
			h.commandChangedLocked(cs) // other dashboards follow the new size
		}
	}
}

func (h *Local) cancelCommand(d *dashboard, m *wire.Cancel) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.commands[m.CommandID]
	if cs == nil || !h.seesAgentLocked(d.who, cs.cmd.AgentID) {
		d.peer.SendError(wire.CodeNotFound, fmt.Sprintf("no command %q", m.CommandID), m.RequestID, m.CommandID)
		return
	}
	ac := h.agentConnLocked(cs.cmd.AgentID)
	if !cs.cmd.State.Final() {
		h.Audit(d.who, "cancel", cs.cmd.ID, "ok", string(cs.cmd.State))
	}
	switch cs.cmd.State {
	case wire.StateQueued:
		if cs.dispatched && ac != nil {
			ac.peer.SendMessage(&wire.Cancel{CommandID: cs.cmd.ID}) // it may be starting right now
		}
		h.finalizeLocked(cs, wire.Exited{State: wire.StateCanceled, Reason: "cancelled by " + d.client + " before it started"})
	case wire.StateRunning:
		if ac == nil {
			cs.cancelPending = true
			return
		}
		ac.peer.SendMessage(&wire.Cancel{CommandID: cs.cmd.ID})
	default:
		d.peer.SendError(wire.CodeNotRunning, fmt.Sprintf("command %s is already %s", cs.cmd.ID, cs.cmd.State), m.RequestID, m.CommandID)
	}
}
