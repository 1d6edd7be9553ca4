package relay

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"switchboard/internal/auth"
	"switchboard/internal/hub"
	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// agentSession is one agent's connection after its hello: it admits the
// agent (what it declares, the identity its token may claim), then reads
// its messages in order and reports them to the hub.
type agentSession struct {
	conn *transport.Conn
	hub  hub.Agent
	log  *slog.Logger
}

func (r *Relay) serveAgent(w http.ResponseWriter, req *http.Request) {
	r.serve(w, req, kindAgent, r.cfg.AgentTimeout, auth.ActRegisterAgent, r.agentSession)
}

// agentSession serves an agent that said hello and was admitted.
//
// Its frame, and its callers', stay on the stack of every idle agent's
// goroutine while it waits in ReadLoop: what comes before and after the
// wait is in functions of their own, so that their locals are not part of
// it (a goroutine's stack is halved at a GC only while it uses less than
// a quarter of it, so a few bytes more here can double every idle
// agent's stack).
func (r *Relay) agentSession(c *transport.Conn, h *wire.Hello, who principal) {
	s := r.admitAgent(c, h, who)
	if s == nil {
		return
	}
	err := c.ReadLoop(s.handle)
	s.gone(err)
}

// admitAgent checks an agent's hello and registers it; nil if refused.
//
//go:noinline (see agentSession)
func (r *Relay) admitAgent(c *transport.Conn, h *wire.Hello, who principal) *agentSession {
	if err := r.checkDeclaration(h.Agent); err != nil {
		r.auditAgent(who, h.Agent, err)
		c.SetWhy("handshake")
		c.SendError(wire.CodeBadHandshake, err.Error(), "", "")
		c.Close(wire.CloseBadHandshake, err.Error())
		return nil
	}
	if err := r.claimAgent(who, h.Agent); err != nil {
		r.auditAgent(who, h.Agent, err)
		r.refuseAgent(c, err)
		return nil
	}
	r.auditAgent(who, h.Agent, nil)
	a := r.hub.JoinAgent(c, who.actor(), h)
	if a == nil {
		return nil
	}
	return &agentSession{conn: c, hub: a, log: r.log.With("agent", h.Agent.Name, "agent_id", h.Agent.ID)}
}

// gone records that an agent's connection ended, with why.
//
//go:noinline (see agentSession)
func (s *agentSession) gone(err error) {
	s.hub.Leave()
	s.log.Info("agent disconnected", "remote", s.conn.Remote(), "err", err)
}

// handle reads one message from the agent; then, when not nil, must run
// before its next (transport.Handler). It never waits: a read poller may
// run it.
func (s *agentSession) handle(kind int, data []byte) (then func()) {
	if kind == transport.Binary {
		f, err := wire.ParseFrame(data)
		if err == nil && f.Kind != wire.FrameOutput && f.Kind != wire.FrameTimed {
			err = fmt.Errorf("%w: agents send output frames (kind 1 or 4), not kind %d", wire.ErrBadMessage, f.Kind)
		}
		if err != nil {
			s.conn.SendError(wire.ErrorCode(err), err.Error(), "", "")
			return nil
		}
		s.hub.Output(f, data)
		return nil
	}
	m, err := wire.Decode(data)
	if err != nil {
		s.conn.SendError(wire.ErrorCode(err), err.Error(), "", "")
		return nil
	}
	switch m := m.(type) {
	case *wire.Started:
		s.hub.Started(m)
	case *wire.Exited:
		s.hub.Exited(m)
	case *wire.SessionOpened:
		return s.hub.SessionOpened(m)
	case *wire.OutputDropped:
		s.hub.OutputDropped(m)
	case *wire.AttentionReport:
		s.hub.Attention(m)
	case *wire.Heartbeat:
		s.hub.Heartbeat()
	case *wire.Error:
		s.log.Warn("agent reported an error", "code", m.Code, "message", m.Message, "command_id", m.CommandID)
	default:
		s.conn.SendError(wire.CodeBadMessage, fmt.Sprintf("%q is not a message an agent may send", m.MessageType()), "", "")
	}
	return nil
}

func validAgentInfo(a *wire.AgentInfo) error {
	switch {
	case a == nil:
		return fmt.Errorf("an agent's hello must carry \"agent\" with its id and name")
	case !wire.ValidID(a.ID):
		return fmt.Errorf("agent id %q must be 1-255 printable ASCII characters without spaces", a.ID)
	case strings.TrimSpace(a.Name) == "" || len(a.Name) > 255:
		return fmt.Errorf("agent name must be 1-255 characters")
	case a.MaxConcurrent < 0 || a.MaxConcurrent > 10000:
		return fmt.Errorf("max_concurrent %d is out of range 0-10000", a.MaxConcurrent)
	}
	return nil
}
