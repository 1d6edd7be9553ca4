package relay

import (
	"context"
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
	"switchboard/internal/store"
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
	conn     *conn
	who      principal
	client   string          // who it says it is, for requested_by
	runs     *rate.Limiter   // run requests
	input    *rate.Limiter   // input frames
	typing   map[string]bool // commands it has typed into; owned by the reader
	catchUp  chan struct{}   // tokens for catch-up frames in flight
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
func (r *Relay) dashboardSession(c *conn, h *wire.Hello, who principal) {
	d := &dashboard{conn: c, who: who, client: requester(h.Client, who), subs: make(map[string]*dashboardSub),
		catchUp: make(chan struct{}, catchUpWindow), typing: make(map[string]bool),
		runs:  rate.NewLimiter(rate.Limit(r.cfg.RunsPerSecond), int(4*r.cfg.RunsPerSecond)),
		input: rate.NewLimiter(rate.Limit(r.cfg.InputPerSecond), int(4*r.cfg.InputPerSecond))}
	d.released = func() { <-d.catchUp }
	r.dashboardJoined(d)
	err := c.readLoop(func(kind int, data []byte) { r.handleDashboardMessage(d, kind, data) })
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
	for id := range d.typing {
		r.audit(d.who, "input_end", id, "ok", "dashboard disconnected")
	}
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
	r.audit(d.who, string(act), commandID, "denied", msg)
	d.conn.sendError(wire.CodeForbidden, msg, requestID, commandID)
	return false
}

// limited reports (and answers) a request over its rate limit.
func limited(d *dashboard, l *rate.Limiter, what, requestID, commandID string) bool {
	if l.Allow() {
		return false
	}
	d.conn.sendError(wire.CodeRateLimited, fmt.Sprintf("too many %s on this connection: dropped; slow down", what), requestID, commandID)
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
	d.conn.sendMessage(&wire.Welcome{Protocol: wire.ProtocolVersion, Relay: r.cfg.Version, HeartbeatMS: r.cfg.HeartbeatEvery.Milliseconds()})
	for _, part := range r.snapshotPartsLocked() {
		d.conn.enqueue(outbound{kind: websocket.TextMessage, data: part})
	}
}

func (r *Relay) handleDashboardMessage(d *dashboard, kind int, data []byte) {
	if kind == websocket.BinaryMessage {
		r.dashboardInput(d, data)
		return
	}
	m, err := wire.Decode(data)
	if err != nil {
		d.conn.sendError(wire.ErrorCode(err), err.Error(), "", "")
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
	case *wire.AuditQuery:
		r.auditQuery(d, m)
	default:
		d.conn.sendError(wire.CodeBadMessage, fmt.Sprintf("%q is not a message a dashboard may send", m.MessageType()), "", "")
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
		d.conn.sendError(wire.CodeInvalidArgument, err.Error(), m.RequestID, "")
		return
	}
	if m.Targets.Empty() {
		d.conn.sendError(wire.CodeInvalidArgument, "targets: name at least one agent or label", m.RequestID, "")
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
		d.conn.sendError(wire.CodeNoTargets, fmt.Sprintf("no known agent matches %s", describeTargets(m.Targets)), m.RequestID, "")
		return
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
		accepted.Commands = append(accepted.Commands, cs.cmd)
	}
	d.conn.sendMessage(accepted)
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

// subscribe streams a command's output from m.Offset: stored bytes first,
// read in paced frames by a goroutine of its own so that the dashboard's
// other requests (an unsubscribe among them) are not held up, then the
// memory tail and live output.
func (r *Relay) subscribe(d *dashboard, m *wire.Subscribe) {
	if m.Offset < 0 {
		d.conn.sendError(wire.CodeInvalidArgument, fmt.Sprintf("offset %d is negative", m.Offset), "", m.CommandID)
		return
	}
	r.mu.Lock()
	cs := r.commands[m.CommandID]
	r.mu.Unlock()
	var stored wire.Command // a command no longer in memory, looked up now so errors keep their order
	if cs == nil {
		var ok bool
		if stored, ok = r.lookupStored(d, m.CommandID); !ok {
			return
		}
	}
	sub := &dashboardSub{stopped: make(chan struct{})}
	d.mu.Lock()
	if old := d.subs[m.CommandID]; old != nil {
		old.stop(d)
	}
	d.subs[m.CommandID] = sub
	// Every frame of an earlier subscription is queued before this (live
	// ones stop with detach, paced ones check stopped under d.mu), and
	// every frame of this one after it.
	d.conn.sendMessage(&wire.Subscribed{CommandID: m.CommandID, Offset: m.Offset})
	d.mu.Unlock()
	d.replays.Go(func() {
		if cs == nil {
			r.streamStored(d, sub, stored, m.Offset)
			d.forget(m.CommandID, sub)
			return
		}
		r.catchUp(d, sub, cs.out, m.Offset)
	})
}

// catchUp sends output from the store, then from memory, paced by the
// dashboard's catch-up window, until it is close enough to live to attach
// the subscription to the live log.
func (r *Relay) catchUp(d *dashboard, sub *dashboardSub, out *outputLog, from int64) {
	for {
		attached, stopped, memStart := d.attach(sub, out, from)
		if attached || stopped {
			return
		}
		var next int64
		var err error
		if from < memStart {
			next, err = r.sendStored(d, sub, out.id, from, memStart)
		} else {
			next, err = r.sendMemory(d, sub, out, from)
		}
		if err != nil {
			return
		}
		if next == from {
			// Nothing more to send, but the dashboard is still behind
			// on what it was sent: wait for it to read.
			select {
			case <-time.After(catchUpPoll):
			case <-d.conn.kill:
				return
			case <-sub.stopped:
				return
			}
		}
		from = next
	}
}

// fallBehind moves a subscription whose dashboard fell behind on live
// output (its queue past half its bound) to a catch-up, which sends what
// it missed at the pace the dashboard reads and attaches it again once it
// is close to live. A dashboard slower than the output it follows sees it
// late instead of being disconnected.
func (d *dashboard) fallBehind(r *Relay, out *outputLog, sub *dashboardSub, from int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.subs[out.id] != sub || isClosed(sub.stopped) {
		return // unsubscribed or replaced meanwhile
	}
	sub.out = nil
	r.metrics.fellBehind.Inc()
	d.replays.Go(func() { r.catchUp(d, sub, out, from) })
}

// attach joins sub to the log if memory covers from. It checks under d.mu
// that the subscription was not stopped meanwhile, so a stopped one never
// attaches.
func (d *dashboard) attach(sub *dashboardSub, out *outputLog, from int64) (attached, stopped bool, memStart int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-sub.stopped:
		return false, true, 0
	default:
	}
	attached, memStart = out.attach(d, sub, from)
	if attached {
		sub.out = out
	}
	return attached, false, memStart
}

// forget drops a finished subscription unless a newer one replaced it.
func (d *dashboard) forget(id string, sub *dashboardSub) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.subs[id] == sub {
		delete(d.subs, id)
	}
}

func (d *dashboard) unsubscribe(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if sub := d.subs[id]; sub != nil {
		sub.stop(d)
		delete(d.subs, id)
	}
}

// sendStored sends one frame of stored output from offset from, stopping
// before limit, and returns the offset to continue from.
func (r *Relay) sendStored(d *dashboard, sub *dashboardSub, id string, from, limit int64) (int64, error) {
	data, start, err := r.store.ReadOutput(r.ctx, id, from, catchUpRead)
	if err != nil {
		d.conn.sendError(wire.CodeStorage, fmt.Sprintf("read stored output: %v", err), "", id)
		return 0, err
	}
	if len(data) == 0 || start >= limit {
		return limit, nil // nothing stored before limit: memory serves the rest
	}
	if end := start + int64(len(data)); end > limit {
		data = data[:limit-start]
	}
	if err := d.sendPaced(sub, wire.OutputFrame(id, start, data)); err != nil {
		return 0, err
	}
	return start + int64(len(data)), nil
}

// sendPaced queues a catch-up frame once fewer than catchUpWindow are in
// flight, so a catch-up never runs ahead of what the dashboard reads.
func (d *dashboard) sendPaced(sub *dashboardSub, frame []byte) error {
	select {
	case d.catchUp <- struct{}{}:
	case <-d.conn.kill:
		return errConnClosed
	case <-sub.stopped:
		return errUnsubscribed
	}
	err := d.queuePaced(sub, outbound{kind: websocket.BinaryMessage, data: frame, after: d.released})
	if err != nil {
		d.released() // m.after will not run
	}
	return err
}

var (
	errConnClosed   = errors.New("connection closed")
	errUnsubscribed = errors.New("unsubscribed")
)

// queuePaced queues m for sub, waiting while the queue is full. It queues
// under d.mu, so that no frame of a stopped subscription follows the
// subscribed marker of the one replacing it (subscribe).
func (d *dashboard) queuePaced(sub *dashboardSub, m outbound) error {
	for {
		d.mu.Lock()
		if isClosed(sub.stopped) {
			d.mu.Unlock()
			return errUnsubscribed
		}
		queued, closing := d.conn.enqueueIfRoom(m)
		d.mu.Unlock()
		switch {
		case queued:
			return nil
		case closing:
			return errConnClosed
		}
		select {
		case <-d.conn.space:
		case <-d.conn.kill:
			return errConnClosed
		case <-sub.stopped:
			return errUnsubscribed
		}
	}
}

// sendMemory sends one frame of output held in memory from offset from,
// and returns the offset to continue from.
func (r *Relay) sendMemory(d *dashboard, sub *dashboardSub, out *outputLog, from int64) (int64, error) {
	data, start := out.readMem(from, catchUpRead)
	if len(data) == 0 {
		return from, nil // trimmed meanwhile: attach sends it to the store
	}
	if err := d.sendPaced(sub, wire.OutputFrame(out.id, start, data)); err != nil {
		return 0, err
	}
	return start + int64(len(data)), nil
}

// lookupStored finds a command that is no longer in memory, answering
// the dashboard when there is none.
func (r *Relay) lookupStored(d *dashboard, id string) (wire.Command, bool) {
	cmds, err := r.store.History(r.ctx, store.HistoryQuery{ID: id, Limit: 1})
	if errors.Is(err, store.ErrNotFound) {
		cmds, err = nil, nil
	}
	if err != nil {
		d.conn.sendError(wire.CodeStorage, fmt.Sprintf("look up command: %v", err), "", id)
		return wire.Command{}, false
	}
	if len(cmds) == 0 {
		d.conn.sendError(wire.CodeNotFound, fmt.Sprintf("no command %q", id), "", id)
		return wire.Command{}, false
	}
	return cmds[0], true
}

// streamStored serves a command that is no longer in memory, from the store.
func (r *Relay) streamStored(d *dashboard, sub *dashboardSub, c wire.Command, from int64) {
	end := c.OutputBytes
	for from < end {
		next, err := r.sendStored(d, sub, c.ID, from, end)
		if err != nil {
			return
		}
		from = next
	}
	d.conn.sendMessage(&wire.OutputEnd{CommandID: c.ID, Offset: max(end, from)})
}

// runningLocked returns the command if it is running on a connected agent.
func (r *Relay) runningLocked(d *dashboard, id string) (*commandState, *agentConn) {
	cs := r.commands[id]
	if cs == nil {
		d.conn.sendError(wire.CodeNotFound, fmt.Sprintf("no command %q", id), "", id)
		return nil, nil
	}
	if cs.cmd.State != wire.StateRunning {
		d.conn.sendError(wire.CodeNotRunning, fmt.Sprintf("command %s is %s, not running", id, cs.cmd.State), "", id)
		return nil, nil
	}
	ac := r.agentConnLocked(cs.cmd.AgentID)
	if ac == nil {
		d.conn.sendError(wire.CodeNotRunning, fmt.Sprintf("agent %s of command %s is offline", cs.cmd.AgentName, id), "", id)
		return nil, nil
	}
	return cs, ac
}

// dashboardInput forwards keystrokes to the command's agent as they came.
func (r *Relay) dashboardInput(d *dashboard, data []byte) {
	f, err := wire.ParseFrame(data)
	if err == nil && f.Kind != wire.FrameInput {
		err = fmt.Errorf("%w: dashboards send input frames (kind 2), not kind %d", wire.ErrBadMessage, f.Kind)
	}
	if err != nil {
		d.conn.sendError(wire.ErrorCode(err), err.Error(), "", "")
		return
	}
	if !r.permit(d, auth.ActInput, "", f.CommandID) || limited(d, d.input, "input frames", "", f.CommandID) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cs, ac := r.runningLocked(d, f.CommandID); ac != nil {
		if a := r.agents[cs.cmd.AgentID]; a != nil && a.info.NoInput {
			msg := fmt.Sprintf("agent %s does not accept input (--no-input)", a.info.Name)
			if !d.typing[f.CommandID] {
				d.typing[f.CommandID] = true // audit the refusal once, not per keystroke
				r.audit(d.who, "input_start", f.CommandID, "denied", msg)
			}
			d.conn.sendError(wire.CodeForbidden, msg, "", f.CommandID)
			return
		}
		if !d.typing[f.CommandID] {
			d.typing[f.CommandID] = true
			r.audit(d.who, "input_start", f.CommandID, "ok", "")
		}
		cs.out.typed(time.Now())
		ac.conn.enqueueNow(outbound{kind: websocket.BinaryMessage, data: data})
	}
}

func (r *Relay) resize(d *dashboard, m *wire.Resize) {
	if !r.permit(d, auth.ActResize, "", m.CommandID) {
		return
	}
	if m.Cols <= 0 || m.Rows <= 0 || m.Cols > maxTerminalSide || m.Rows > maxTerminalSide {
		d.conn.sendError(wire.CodeInvalidArgument, fmt.Sprintf("terminal size %dx%d is out of range 1-%d", m.Cols, m.Rows, maxTerminalSide), "", m.CommandID)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cs, ac := r.runningLocked(d, m.CommandID); ac != nil {
		ac.conn.sendMessage(m)
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
	if cs == nil {
		d.conn.sendError(wire.CodeNotFound, fmt.Sprintf("no command %q", m.CommandID), m.RequestID, m.CommandID)
		return
	}
	ac := r.agentConnLocked(cs.cmd.AgentID)
	if !cs.cmd.State.Final() {
		r.audit(d.who, "cancel", cs.cmd.ID, "ok", string(cs.cmd.State))
	}
	switch cs.cmd.State {
	case wire.StateQueued:
		if cs.dispatched && ac != nil {
			ac.conn.sendMessage(&wire.Cancel{CommandID: cs.cmd.ID}) // it may be starting right now
		}
		r.finalizeLocked(cs, wire.Exited{State: wire.StateCanceled, Reason: "cancelled by " + d.client + " before it started"})
	case wire.StateRunning:
		if ac == nil {
			cs.cancelPending = true
			return
		}
		ac.conn.sendMessage(&wire.Cancel{CommandID: cs.cmd.ID})
	default:
		d.conn.sendError(wire.CodeNotRunning, fmt.Sprintf("command %s is already %s", cs.cmd.ID, cs.cmd.State), m.RequestID, m.CommandID)
	}
}

func (r *Relay) history(d *dashboard, m *wire.HistoryQuery) {
	if m.Limit < 0 || m.Limit > 1000 {
		d.conn.sendError(wire.CodeInvalidArgument, fmt.Sprintf("limit %d is out of range 0-1000", m.Limit), m.RequestID, "")
		return
	}
	q := store.HistoryQuery{Limit: m.Limit, ID: m.CommandID}
	if m.Agent != "" {
		q.AgentID = r.resolveAgent(m.Agent)
		if q.AgentID == "" {
			d.conn.sendError(wire.CodeNotFound, fmt.Sprintf("no agent %q", m.Agent), m.RequestID, "")
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	cmds, err := r.store.History(ctx, q)
	if errors.Is(err, store.ErrNotFound) {
		cmds, err = nil, nil
	}
	if err != nil {
		d.conn.sendError(wire.CodeStorage, fmt.Sprintf("read history: %v", err), m.RequestID, "")
		return
	}
	d.conn.sendMessage(&wire.HistoryResult{RequestID: m.RequestID, Commands: r.mergeLive(cmds, q)})
}

// mergeLive overlays what memory knows on stored history: live commands
// change faster than the store, and the newest may not be stored yet.
func (r *Relay) mergeLive(cmds []wire.Command, q store.HistoryQuery) []wire.Command {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[string]bool, len(cmds))
	for i, c := range cmds {
		seen[c.ID] = true
		if cs := r.commands[c.ID]; cs != nil {
			cmds[i] = cs.snapshot()
		}
	}
	for id, cs := range r.commands {
		if !seen[id] && (q.AgentID == "" || q.AgentID == cs.cmd.AgentID) && (q.ID == "" || q.ID == id) {
			cmds = append(cmds, cs.snapshot())
		}
	}
	slices.SortFunc(cmds, func(a, b wire.Command) int { return b.CreatedAt.Compare(a.CreatedAt) })
	limit := q.Limit
	if limit == 0 {
		limit = 50
	}
	if len(cmds) > limit {
		cmds = cmds[:limit]
	}
	if cmds == nil {
		cmds = []wire.Command{}
	}
	return cmds
}

// resolveAgent maps an agent id or name to an id, preferring the most
// recently seen agent of that name.
func (r *Relay) resolveAgent(idOrName string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.agents[idOrName]; ok {
		return idOrName
	}
	var best *agentState
	for _, a := range r.agents {
		if a.info.Name == idOrName && (best == nil || a.info.LastSeen.After(best.info.LastSeen)) {
			best = a
		}
	}
	if best == nil {
		return ""
	}
	return best.info.ID
}

func (r *Relay) auditQuery(d *dashboard, m *wire.AuditQuery) {
	if !r.permit(d, auth.ActAudit, m.RequestID, "") {
		return
	}
	if r.tokens.store == nil {
		d.conn.sendError(wire.CodeNotFound, "authentication is off: there is no audit trail", m.RequestID, "")
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	entries, err := r.tokens.store.Audit(ctx, m.Limit)
	if err != nil {
		d.conn.sendError(wire.CodeStorage, fmt.Sprintf("read audit trail: %v", err), m.RequestID, "")
		return
	}
	d.conn.sendMessage(&wire.AuditResult{RequestID: m.RequestID, Entries: entries})
}

// commandLine renders a command for the audit trail.
func commandLine(s wire.CommandSpec) string {
	if s.Shell != "" {
		return s.Shell
	}
	return strings.Join(s.Argv, " ")
}
