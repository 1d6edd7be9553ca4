package hub

import (
	"context"

	"switchboard/internal/store"
	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// Hub is the relay's live state and routing as its sessions use it:
// agents and their commands, the queue, the one order of events, output
// by offset and its fan-out. Local keeps all of it in one process. A hub
// shared by several relays implements the same interface: it numbers
// events itself, serves a subscription from any offset (from the store,
// then live), dispatches a command to its agent on whichever relay holds
// it, and routes input to that agent.
//
// The hub answers requests on the requester's Peer (errors included) in
// the order the state changed, so a dashboard sees run.accepted before
// the command's first event.
type Hub interface {
	// JoinAgent registers an agent whose hello was accepted, welcomes it
	// with what to resume, and sends it its work; nil if the relay is
	// shutting down (peer is closed then).
	JoinAgent(peer Peer, who Actor, hello *wire.Hello) Agent
	// JoinDashboard sends welcome and the state's snapshot, then every
	// event; nil if the relay is shutting down.
	JoinDashboard(peer Peer, who Actor, client string) Dashboard
	// History is stored history with what memory knows laid over it, of
	// the agents who may see; agent, if not empty, names the one agent
	// (ErrNoAgent if who sees none of that id or name).
	History(ctx context.Context, who Actor, q store.HistoryQuery, agent string) ([]wire.Command, error)
	// Search finds lines of stored output, newest first, of the commands
	// of the agents who may see (search.go); agent and labels narrow it.
	Search(ctx context.Context, who Actor, q store.SearchQuery, agent string, labels wire.Strings) ([]wire.SearchHit, error)
	// Command finds a command in memory or in the store (store.ErrNotFound
	// if none); one that has just ended, once its end is stored.
	Command(ctx context.Context, id string) (wire.Command, error)
	// ResolveAgent maps an agent id or name to an id ("" if none).
	ResolveAgent(idOrName string) string
	// Audit and AuditDenied add to the audit trail; refusals are
	// summarized per minute beyond the first of a kind.
	Audit(who Actor, action, subject, result, detail string)
	AuditDenied(who Actor, action, subject, detail string)
	// Run drives the hub until ctx ends, then calls drain, which ends
	// every session, and stores what is left.
	Run(ctx context.Context, drain func())
}

// Agent is one connected agent as its session reports to the hub.
// Its methods are called from the agent's reader only, one at a time, and
// never wait (a read poller may run them).
type Agent interface {
	Output(f wire.Frame, raw []byte) // an output frame (kind 1, or 4 with timing), parsed, and as it came
	Started(m *wire.Started)
	Exited(m *wire.Exited)
	// SessionOpened may return work that waits (a store lookup), which
	// the reader runs before the agent's next message.
	SessionOpened(m *wire.SessionOpened) (then func())
	OutputDropped(m *wire.OutputDropped)
	Attention(m *wire.AttentionReport)
	Heartbeat()
	Leave() // the connection is over
}

// Dashboard is one connected dashboard as its session routes its
// requests. Its session has checked the role and the request's form.
type Dashboard interface {
	Run(m *wire.Run)
	Subscribe(m *wire.Subscribe)
	Unsubscribe(commandID string)
	Resize(m *wire.Resize)
	Cancel(m *wire.Cancel)
	// Input forwards an input frame (kind 2), or a reply frame (kind 3)
	// from the command's controller, to the command's agent.
	Input(f wire.Frame, raw []byte)
	QuickReply(m *wire.QuickReply)
	RestartSession(m *wire.RestartSession)
	// ForgetAgent removes an offline agent; it reports the agent's id.
	ForgetAgent(m *wire.AgentForget) (id string, ok bool)
	Leave() // the connection is over
}

// Peer is a connection as the hub writes to it: a transport.Conn.
type Peer interface {
	SendMessage(m wire.Message) bool
	SendError(code, msg, requestID, commandID string)
	Send(m transport.Message) bool
	SendSoon(m transport.Message) bool
	SendNow(m transport.Message) bool
	SendIfRoom(m transport.Message) (queued, closing bool)
	SendFree(data []byte)
	Lagging(n int) bool
	Room() <-chan struct{}
	Killed() <-chan struct{}
	SetWhy(why string)
	Remote() string
	CloseNow(code int, reason string)
}

// Actor is who a request acts as: for the audit trail, and for what it
// may see.
type Actor struct {
	Token  string // token name
	Role   string
	Remote string // IP address
	// Scope is the labels an agent must carry for the actor to see and
	// drive it (scope.go); nil: every agent.
	Scope wire.Strings
}
