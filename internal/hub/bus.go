package hub

import (
	"context"
	"errors"

	"switchboard/internal/wire"
)

// Bus is what a hub shared by several relays needs of the others
// (internal/cluster implements it over NATS). Without one (Config.Bus
// nil) Local is one relay on its own and never calls it.
//
// What goes where: events go through Publish into one ordered log, whose
// sequence numbers every relay's dashboards see; a queued command is
// handed to the relay holding its agent (Handoff); a dashboard's request
// about a command another relay owns is forwarded there (Forward), and
// what that relay answers the dashboard comes back by ToDashboard.
type Bus interface {
	// ID is this relay's id in the cluster.
	ID() string
	// Publish queues an event for the shared log, in call order. It never
	// waits: it is called under Local.mu.
	Publish(ev BusEvent)
	// Handoff asks relay to adopt a queued command for its agent; epoch
	// is the command's ownership epoch here (the adopter's is the next).
	Handoff(ctx context.Context, relay string, c wire.Command, epoch uint64) error
	// Release asks relay to give up the running commands of an agent that
	// connected here; it answers each one's end of stored output.
	Release(ctx context.Context, relay, agentID string) (map[string]int64, error)
	// Forward sends a dashboard's request to the relay owning its command.
	Forward(relay string, r ProxyRequest)
	// ToDashboard sends a message (transport.Text or Binary) to a
	// dashboard of another relay.
	ToDashboard(relay, dash string, kind int, data []byte)
	// Alive reports whether relay was heard from lately.
	Alive(relay string) bool
	// Leader reports whether this relay comes first of the live ones: it
	// takes over what a relay that went silent drove.
	Leader() bool
	// Run delivers the shared log and the other relays' requests to m
	// until ctx ends.
	Run(ctx context.Context, m Member)
}

// Member is what a Bus delivers to: a Local with a Bus.
type Member interface {
	// ApplyEvent takes the event numbered seq in the shared log, which
	// relay origin published; replay is true for events logged before
	// this relay started.
	ApplyEvent(seq uint64, origin string, ev BusEvent, replay bool)
	// Replayed says the log before this relay started is applied.
	Replayed()
	Adopt(c wire.Command, epoch uint64) error
	ReleaseAgent(agentID, to string) map[string]int64
	Proxy(origin string, r ProxyRequest)
	// Deliver is a message relay from sent a dashboard of this relay.
	Deliver(from, dash string, kind int, data []byte)
	// RelayGone says relay was not heard from for too long.
	RelayGone(relay string)
	// Reconnected says the bus was away and is back.
	Reconnected()
}

// BusEvent is one event as relays publish it: the message encoded with
// seq 0, which each relay renumbers with the log's sequence number.
type BusEvent struct {
	Kind    string // wire type: agent, command, agent.removed
	Subject string // agent or command id
	AgentID string
	// Holder is, for an agent event, the relay holding the agent's
	// connection ("" when offline); Was, for an offline event, the relay
	// that held it: it is applied only where that relay still holds it.
	Holder, Was string
	// Epoch, for a command event, counts the command's changes of owner:
	// an event of an older epoch than a relay knows (a word from the
	// relay that handed it over, later in the log than the hand-off) is
	// not news about who owns it.
	Epoch uint64
	Data  []byte
}

// ProxyRequest is a dashboard's request forwarded to the relay that owns
// the command it is about.
type ProxyRequest struct {
	Dash   string // the dashboard's id on its relay
	Client string // requested_by
	Who    Actor
	Op     string // one of the Op constants
	Data   []byte // the request (JSON), or an input frame
}

// Forwarded operations.
const (
	OpSubscribe   = "subscribe"
	OpUnsubscribe = "unsubscribe"
	OpInput       = "input"
	OpResize      = "resize"
	OpCancel      = "cancel"
	OpReply       = "reply"
	OpRestart     = "restart"
	OpLeave       = "leave"
)

// ErrNotHere answers a hand-off for an agent this relay does not hold.
var ErrNotHere = errors.New("the agent is not connected to this relay")

// unknownOwner owns what a relay restored from the store before another
// relay (or this one's agents) claimed it.
const unknownOwner = "?"
