package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"switchboard/internal/auth"
	"switchboard/internal/hub"
	"switchboard/internal/store"
	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// Limits on what a dashboard may ask for.
const (
	maxTerminalSide = 1000     // columns or rows
	maxSpecBytes    = 64 << 10 // encoded size of one command's argv, shell, cwd and env
	storeLookup     = 10 * time.Second
)

// dashboardSession is one dashboard's connection after its hello: it
// reads its requests in order, checks that its role may make them, that
// they are well formed and within its rate limits, and routes them to
// the hub (or, for the audit trail and sign-in links, to the store).
type dashboardSession struct {
	r     *Relay
	conn  *transport.Conn
	who   principal
	hub   hub.Dashboard
	runs  *rate.Limiter // run requests and quick replies
	input *rate.Limiter // input frames
}

func (r *Relay) serveDashboard(w http.ResponseWriter, req *http.Request) {
	r.serve(w, req, kindDashboard, r.cfg.DashboardTimeout, auth.ActWatch, r.dashboardSession)
}

// dashboardSession serves a dashboard that said hello and was admitted.
func (r *Relay) dashboardSession(c *transport.Conn, h *wire.Hello, who principal) {
	d := &dashboardSession{r: r, conn: c, who: who,
		runs:  rate.NewLimiter(rate.Limit(r.cfg.RunsPerSecond), int(4*r.cfg.RunsPerSecond)),
		input: rate.NewLimiter(rate.Limit(r.cfg.InputPerSecond), int(4*r.cfg.InputPerSecond))}
	if d.hub = r.hub.JoinDashboard(c, who.actor(), requester(h.Client, who)); d.hub == nil {
		return
	}
	err := c.ReadLoop(func(kind int, data []byte) func() { d.handle(kind, data); return nil })
	r.log.Debug("dashboard disconnected", "client", h.Client, "remote", c.Remote(), "err", err)
	d.hub.Leave()
}

// requester names who asked for a command: the token, the client program
// and the address.
func requester(client string, who principal) string {
	if client == "" {
		client = "dashboard"
	}
	return who.token + " (" + client + "@" + who.remote + ")"
}

// limited reports (and answers) a request over its rate limit.
func (d *dashboardSession) limited(l *rate.Limiter, what, requestID, commandID string) bool {
	if l.Allow() {
		return false
	}
	d.conn.SendError(wire.CodeRateLimited, fmt.Sprintf("too many %s on this connection: dropped; slow down", what), requestID, commandID)
	return true
}

// handle serves one message from the dashboard.
func (d *dashboardSession) handle(kind int, data []byte) {
	r := d.r
	if kind == transport.Binary {
		d.inputFrame(data)
		return
	}
	m, err := wire.Decode(data)
	if err != nil {
		d.conn.SendError(wire.ErrorCode(err), err.Error(), "", "")
		return
	}
	switch m := m.(type) {
	case *wire.Run:
		d.run(m)
	case *wire.Subscribe:
		d.hub.Subscribe(m)
	case *wire.Unsubscribe:
		d.hub.Unsubscribe(m.CommandID)
	case *wire.Resize:
		d.resize(m)
	case *wire.Cancel:
		if r.permit(d, auth.ActCancel, m.RequestID, m.CommandID) {
			d.hub.Cancel(m)
		}
	case *wire.HistoryQuery:
		d.history(m)
	case *wire.QuickReply:
		if r.permit(d, auth.ActInput, m.RequestID, m.CommandID) && !d.limited(d.runs, "quick replies", m.RequestID, m.CommandID) {
			d.hub.QuickReply(m)
		}
	case *wire.AuditQuery:
		d.auditQuery(m)
	case *wire.SignInQuery:
		r.signIn(d, m)
	case *wire.RestartSession:
		if r.permit(d, auth.ActRestart, m.RequestID, "") {
			d.hub.RestartSession(m)
		}
	case *wire.AgentForget:
		d.forgetAgent(m)
	case *wire.TimingQuery:
		r.timingQuery(d, m)
	case *wire.SearchQuery:
		r.search(d, m)
	default:
		d.conn.SendError(wire.CodeBadMessage, fmt.Sprintf("%q is not a message a dashboard may send", m.MessageType()), "", "")
	}
}

// inputFrame forwards keystrokes (kind 2), and a controller's replies to
// its terminal's queries (kind 3), to the command's agent.
func (d *dashboardSession) inputFrame(data []byte) {
	f, err := wire.ParseFrame(data)
	if err == nil && f.Kind != wire.FrameInput && f.Kind != wire.FrameReply {
		err = fmt.Errorf("%w: dashboards send input frames (kind 2) and reply frames (kind 3), not kind %d", wire.ErrBadMessage, f.Kind)
	}
	if err != nil {
		d.conn.SendError(wire.ErrorCode(err), err.Error(), "", "")
		return
	}
	if !d.r.permit(d, auth.ActInput, "", f.CommandID) || d.limited(d.input, "input frames", "", f.CommandID) {
		return
	}
	d.hub.Input(f, data)
}

// run asks for a command on every agent its targets select.
func (d *dashboardSession) run(m *wire.Run) {
	if !d.r.permit(d, auth.ActRun, m.RequestID, "") || d.limited(d.runs, "run requests", m.RequestID, "") {
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
	d.hub.Run(m)
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

func (d *dashboardSession) resize(m *wire.Resize) {
	if !d.r.permit(d, auth.ActResize, "", m.CommandID) {
		return
	}
	if m.Cols <= 0 || m.Rows <= 0 || m.Cols > maxTerminalSide || m.Rows > maxTerminalSide {
		d.conn.SendError(wire.CodeInvalidArgument, fmt.Sprintf("terminal size %dx%d is out of range 1-%d", m.Cols, m.Rows, maxTerminalSide), "", m.CommandID)
		return
	}
	d.hub.Resize(m)
}

// history answers a history query from the store, with what the hub
// knows of live commands laid over it.
func (d *dashboardSession) history(m *wire.HistoryQuery) {
	if m.Limit < 0 || m.Limit > 1000 {
		d.conn.SendError(wire.CodeInvalidArgument, fmt.Sprintf("limit %d is out of range 0-1000", m.Limit), m.RequestID, "")
		return
	}
	ctx, cancel := context.WithTimeout(d.r.ctx, storeLookup)
	defer cancel()
	cmds, err := d.r.hub.History(ctx, d.who.actor(), store.HistoryQuery{Limit: m.Limit, ID: m.CommandID}, m.Agent)
	if errors.Is(err, hub.ErrNoAgent) {
		d.conn.SendError(wire.CodeNotFound, fmt.Sprintf("no agent %q", m.Agent), m.RequestID, "")
		return
	}
	if err != nil {
		d.conn.SendError(wire.CodeStorage, fmt.Sprintf("read history: %v", err), m.RequestID, "")
		return
	}
	d.conn.SendMessage(&wire.HistoryResult{RequestID: m.RequestID, Commands: cmds})
}

func (d *dashboardSession) auditQuery(m *wire.AuditQuery) {
	r := d.r
	if !r.permit(d, auth.ActAudit, m.RequestID, "") {
		return
	}
	if r.tokens.store == nil {
		d.conn.SendError(wire.CodeNotFound, "authentication is off: there is no audit trail", m.RequestID, "")
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, storeLookup)
	defer cancel()
	entries, err := r.tokens.store.Audit(ctx, m.Limit)
	if err != nil {
		d.conn.SendError(wire.CodeStorage, fmt.Sprintf("read audit trail: %v", err), m.RequestID, "")
		return
	}
	d.conn.SendMessage(&wire.AuditResult{RequestID: m.RequestID, Entries: entries})
}

// forgetAgent serves agent.forget: the hub drops the agent, then its
// token's bindings go from the store before the answer, so that once it
// comes another token may take the agent's name.
func (d *dashboardSession) forgetAgent(m *wire.AgentForget) {
	r := d.r
	if !r.permit(d, auth.ActForgetAgent, m.RequestID, "") {
		return
	}
	id, ok := d.hub.ForgetAgent(m)
	if !ok {
		return
	}
	if r.tokens.binds != nil {
		r.tokens.forgot(id)
		ctx, cancel := context.WithTimeout(r.ctx, storeLookup)
		defer cancel()
		if err := r.tokens.binds.UnbindAgent(ctx, id); err != nil {
			d.conn.SendError(wire.CodeStorage, fmt.Sprintf("agent %s is forgotten, but its token's binding stays: %v", id, err), m.RequestID, "")
			return
		}
		r.tokens.forgot(id) // again: a reload may have brought the binding back meanwhile
	}
	d.conn.SendMessage(&wire.AgentForgetResult{RequestID: m.RequestID, AgentID: id})
}
