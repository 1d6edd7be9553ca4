package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"switchboard/internal/auth"
	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// Limits on what a dashboard may ask for.
const (
	maxTerminalSide = 1000     // columns or rows
	maxSpecBytes    = 64 << 10 // encoded size of one command's argv, shell, cwd and env
	catchUpRead     = wire.MaxChunk
	catchUpPoll     = 20 * time.Millisecond // how often a caught-up catch-up checks a lagging dashboard again
	snapshotPart    = 256 << 10             // target encoded size of one snapshot message
)

// dashboard is one connected dashboard.
type dashboard struct {
	conn     *transport.Conn
	who      principal
	client   string               // who it says it is, for requested_by
	runs     *rate.Limiter        // run requests
	input    *rate.Limiter        // input frames
	typing   map[string]bool      // commands it has typed into; owned by the reader
	refused  map[string]time.Time // when refused input to each command was last answered; owned by the reader
	catchUp  chan struct{}        // tokens for catch-up frames in flight
	released func()
	replays  sync.WaitGroup // catch-up goroutines, ended before the dashboard is forgotten

	mu   sync.Mutex               // guards subs; taken before outputLog.mu
	subs map[string]*dashboardSub // by command id
}

// dashboardSub is one subscription: a catch-up goroutine reads stored
// output while the reader goes on serving the dashboard; then the
// subscription lives on in the command's outputLog.
type dashboardSub struct {
	out     *outputLog    // nil until attached, and for a command not in memory
	stopped chan struct{} // closed by unsubscribe, resubscribe or disconnect
}

// stop ends the subscription: its catch-up, if running, and its place in
// the output log. Called with d.mu held.
func (s *dashboardSub) stop(d *dashboard) {
	close(s.stopped)
	if s.out != nil {
		s.out.detach(d)
	}
}

func (r *Relay) serveDashboard(w http.ResponseWriter, req *http.Request) {
	r.serve(w, req, kindDashboard, r.cfg.DashboardTimeout, auth.ActWatch, r.dashboardSession)
}

// dashboardSession serves a dashboard that said hello and was admitted.
func (r *Relay) dashboardSession(c *transport.Conn, h *wire.Hello, who principal) {
	d := &dashboard{conn: c, who: who, client: requester(h.Client, who), subs: make(map[string]*dashboardSub),
		catchUp: make(chan struct{}, catchUpWindow), typing: make(map[string]bool),
		runs:  rate.NewLimiter(rate.Limit(r.cfg.RunsPerSecond), int(4*r.cfg.RunsPerSecond)),
		input: rate.NewLimiter(rate.Limit(r.cfg.InputPerSecond), int(4*r.cfg.InputPerSecond))}
	d.released = func() { <-d.catchUp }
	r.dashboardJoined(d)
	err := c.ReadLoop(func(kind int, data []byte) func() { r.handleDashboardMessage(d, kind, data); return nil })
	r.log.Debug("dashboard disconnected", "client", d.client, "err", err)
	r.mu.Lock()
	delete(r.dashboards, d)
	r.mu.Unlock()
	d.mu.Lock()
	for id, sub := range d.subs {
		sub.stop(d)
		delete(d.subs, id)
	}
	d.mu.Unlock()
	d.replays.Wait()
	r.inputEnded(d)
}

// requester names who asked for a command: the token, the client program
// and the address.
func requester(client string, who principal) string {
	if client == "" {
		client = "dashboard"
	}
	return who.token + " (" + client + "@" + who.remote + ")"
}

// permit checks d's role may do act, answering a refusal with an error
// and an audit entry.
func (r *Relay) permit(d *dashboard, act auth.Action, requestID, commandID string) bool {
	if auth.Allows(d.who.role, act) {
		return true
	}
	msg := fmt.Sprintf("a token with role %s may not %s", d.who.role, describeAction(act))
	r.auditDenied(d.who, string(act), commandID, msg)
	d.conn.SendError(wire.CodeForbidden, msg, requestID, commandID)
	return false
}

// limited reports (and answers) a request over its rate limit.
func limited(d *dashboard, l *rate.Limiter, what, requestID, commandID string) bool {
	if l.Allow() {
		return false
	}
	d.conn.SendError(wire.CodeRateLimited, fmt.Sprintf("too many %s on this connection: dropped; slow down", what), requestID, commandID)
	return true
}

// dashboardJoined registers d for events and sends welcome and the
// snapshot under the state lock, so no event falls between them.
func (r *Relay) dashboardJoined(d *dashboard) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shuttingDownLocked(d.conn) {
		return
	}
	r.dashboards[d] = struct{}{}
	d.conn.SendMessage(&wire.Welcome{Protocol: wire.ProtocolVersion, Relay: r.cfg.Version, HeartbeatMS: r.cfg.HeartbeatEvery.Milliseconds()})
	parts := r.snapshotPartsLocked()
	if d.who.scope != nil {
		parts = r.scopedSnapshotLocked(d.who)
	}
	for _, part := range parts {
		d.conn.SendFree(part)
	}
}

func (r *Relay) handleDashboardMessage(d *dashboard, kind int, data []byte) {
	if kind == websocket.BinaryMessage {
		r.dashboardInput(d, data)
		return
	}
	m, err := wire.Decode(data)
	if err != nil {
		d.conn.SendError(wire.ErrorCode(err), err.Error(), "", "")
		return
	}
	switch m := m.(type) {
	case *wire.Run:
		r.run(d, m)
	case *wire.Subscribe:
		r.subscribe(d, m)
	case *wire.Unsubscribe:
		d.unsubscribe(m.CommandID)
	case *wire.Resize:
		r.resize(d, m)
	case *wire.Cancel:
		r.cancelCommand(d, m)
	case *wire.HistoryQuery:
		r.history(d, m)
	case *wire.QuickReply:
		r.quickReply(d, m)
	case *wire.AuditQuery:
		r.auditQuery(d, m)
	case *wire.SignInQuery:
		r.signIn(d, m)
	case *wire.RestartSession:
		r.restartSession(d, m)
	case *wire.AgentForget:
		r.forgetAgent(d, m)
	case *wire.TimingQuery:
		r.timingQuery(d, m)
	default:
		d.conn.SendError(wire.CodeBadMessage, fmt.Sprintf("%q is not a message a dashboard may send", m.MessageType()), "", "")
	}
}

func validSpec(s *wire.CommandSpec) error {
	switch {
	case len(s.Argv) == 0 && s.Shell == "":
		return errors.New("give either argv or shell")
	case len(s.Argv) > 0 && s.Shell != "":
		return errors.New("give argv or shell, not both")
	case len(s.Argv) > 0 && s.Argv[0] == "":
		return errors.New("argv[0] is empty")
	case s.Cols < 0 || s.Rows < 0 || s.Cols > maxTerminalSide || s.Rows > maxTerminalSide:
		return fmt.Errorf("terminal size %dx%d is out of range 0-%d", s.Cols, s.Rows, maxTerminalSide)
	case s.TimeoutMS < 0:
		return fmt.Errorf("timeout_ms %d is negative", s.TimeoutMS)
	}
	for k := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("env name %q is invalid", k)
		}
	}
	if b, _ := json.Marshal(s); len(b) > maxSpecBytes {
		return fmt.Errorf("command is %d bytes encoded; the limit is %d", len(b), maxSpecBytes)
	}
	return nil
}

// run creates one queued command per selected agent and dispatches them.
func (r *Relay) run(d *dashboard, m *wire.Run) {
	if !r.permit(d, auth.ActRun, m.RequestID, "") || limited(d, d.runs, "run requests", m.RequestID, "") {
		return
	}
	if err := validSpec(&m.CommandSpec); err != nil {
		d.conn.SendError(wire.CodeInvalidArgument, err.Error(), m.RequestID, "")
		return
	}
	if m.Targets.Empty() {
		d.conn.SendError(wire.CodeInvalidArgument, "targets: name at least one agent or label", m.RequestID, "")
		return
	}
	now := time.Now().UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	var targets []*agentState
	for _, a := range r.agents {
		if m.Targets.Matches(a.info.AgentInfo) {
			targets = append(targets, a)
		}
	}
	if len(targets) == 0 {
		d.conn.SendError(wire.CodeNoTargets, fmt.Sprintf("no known agent matches %s", describeTargets(m.Targets)), m.RequestID, "")
		return
	}
	for _, a := range targets {
		if !r.seesAgentLocked(d.who, a.info.ID) {
			msg := outOfScope(d.who, a)
			r.auditDenied(d.who, "run", a.info.ID, msg)
			d.conn.SendError(wire.CodeForbidden, msg, m.RequestID, "")
			return
		}
	}
	slices.SortFunc(targets, func(a, b *agentState) int { return strings.Compare(a.info.Name, b.info.Name) })
	accepted := &wire.RunAccepted{RequestID: m.RequestID, Commands: make([]wire.Command, 0, len(targets))}
	created := make([]*commandState, 0, len(targets))
	for _, a := range targets {
		cs := r.newCommandState(wire.Command{ID: wire.NewID("c"), AgentID: a.info.ID, AgentName: a.info.Name,
			CommandSpec: m.CommandSpec, State: wire.StateQueued, RequestedBy: d.client, CreatedAt: now})
		r.commands[cs.cmd.ID] = cs
		a.live[cs.cmd.ID] = cs
		a.queue = append(a.queue, cs)
		created = append(created, cs)
		accepted.Commands = append(accepted.Commands, forDashboards(cs.cmd))
	}
	d.conn.SendMessage(accepted)
	for i, cs := range created {
		r.audit(d.who, "run", cs.cmd.ID, "ok", "on "+cs.cmd.AgentName+": "+commandLine(cs.cmd.CommandSpec))
		r.commandChangedLocked(cs)
		r.dispatchLocked(targets[i])
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
func (r *Relay) runningLocked(d *dashboard, id string) (*commandState, *agentConn) {
	cs := r.commands[id]
	if cs == nil || !r.seesAgentLocked(d.who, cs.cmd.AgentID) {
		d.conn.SendError(wire.CodeNotFound, fmt.Sprintf("no command %q", id), "", id)
		return nil, nil
	}
	if cs.cmd.State != wire.StateRunning {
		d.conn.SendError(wire.CodeNotRunning, fmt.Sprintf("command %s is %s, not running", id, cs.cmd.State), "", id)
		return nil, nil
	}
	ac := r.agentConnLocked(cs.cmd.AgentID)
	if ac == nil {
		d.conn.SendError(wire.CodeNotRunning, fmt.Sprintf("agent %s of command %s is offline", cs.cmd.AgentName, id), "", id)
		return nil, nil
	}
	return cs, ac
}

func (r *Relay) resize(d *dashboard, m *wire.Resize) {
	if !r.permit(d, auth.ActResize, "", m.CommandID) {
		return
	}
	if m.Cols <= 0 || m.Rows <= 0 || m.Cols > maxTerminalSide || m.Rows > maxTerminalSide {
		d.conn.SendError(wire.CodeInvalidArgument, fmt.Sprintf("terminal size %dx%d is out of range 1-%d", m.Cols, m.Rows, maxTerminalSide), "", m.CommandID)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cs, ac := r.runningLocked(d, m.CommandID); ac != nil {
		ac.conn.SendMessage(m)
		if cs.cmd.Cols != m.Cols || cs.cmd.Rows != m.Rows {
			cs.cmd.Cols, cs.cmd.Rows = m.Cols, m.Rows
			r.commandChangedLocked(cs) // other dashboards follow the new size
		}
	}
}

func (r *Relay) cancelCommand(d *dashboard, m *wire.Cancel) {
	if !r.permit(d, auth.ActCancel, m.RequestID, m.CommandID) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.commands[m.CommandID]
	if cs == nil || !r.seesAgentLocked(d.who, cs.cmd.AgentID) {
		d.conn.SendError(wire.CodeNotFound, fmt.Sprintf("no command %q", m.CommandID), m.RequestID, m.CommandID)
		return
	}
	ac := r.agentConnLocked(cs.cmd.AgentID)
	if !cs.cmd.State.Final() {
		r.audit(d.who, "cancel", cs.cmd.ID, "ok", string(cs.cmd.State))
	}
	switch cs.cmd.State {
	case wire.StateQueued:
		if cs.dispatched && ac != nil {
			ac.conn.SendMessage(&wire.Cancel{CommandID: cs.cmd.ID}) // it may be starting right now
		}
		r.finalizeLocked(cs, wire.Exited{State: wire.StateCanceled, Reason: "cancelled by " + d.client + " before it started"})
	case wire.StateRunning:
		if ac == nil {
			cs.cancelPending = true
			return
		}
		ac.conn.SendMessage(&wire.Cancel{CommandID: cs.cmd.ID})
	default:
		d.conn.SendError(wire.CodeNotRunning, fmt.Sprintf("command %s is already %s", cs.cmd.ID, cs.cmd.State), m.RequestID, m.CommandID)
	}
}

// commandLine renders a command for the audit trail.
func commandLine(s wire.CommandSpec) string {
	if s.Shell != "" {
		return s.Shell
	}
	return strings.Join(s.Argv, " ")
}
