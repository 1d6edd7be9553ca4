// Package client is the one dashboard client of the Switchboard protocol,
// shared by the TUI, the CLI subcommands, the benchmarks and the tests. It
// keeps a live copy of the relay's state, delivers events in relay order,
// tracks output subscriptions by offset, and (optionally) reconnects by
// itself and resumes every subscription so that its user sees each output
// byte exactly once. Given several relays of one system (Config.Relays),
// it is connected to one at a time and moves to another when its relay is
// lost (relays.go, by internal/relayring's rule, the agent's too), resuming
// there the same way.
//
// Goroutines: loop (started by Dial, ended by Close or, without
// Reconnect, by the connection's end) runs one session after another; a
// session's writer (writeLoop, started by run, ended when the session
// closes). Lock: Client.mu guards the session, state, subscriptions and
// pending requests; nothing blocks under it but a send on a reply
// channel with room for one.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/relayring"
	"switchboard/internal/wire"
)

// Config says where and how to connect.
type Config struct {
	Relay     string            // ws://HOST:PORT (the dashboard path is added when missing)
	Client    string            // name reported to the relay; shows in requested_by
	Token     string            // access token sent in hello
	Logger    *slog.Logger      // default: discard
	Dialer    *websocket.Dialer // default: websocket.DefaultDialer
	Reconnect bool              // reconnect with backoff instead of ending on disconnect
	// Relays are more relays of the same system (sharing one store),
	// after Relay if both are set. The client is connected to one at a
	// time: it stays on a relay while the relay works and moves to the
	// next (internal/relayring) when it cannot reach it, is refused by it,
	// or loses it before the connection was stable; with Reconnect, it
	// resubscribes there from the offsets it has.
	Relays []string
	// ConnectFirst, with Reconnect, makes Dial fail when it reaches no
	// relay at the start (each tried once, within Dial's context) rather
	// than keep trying: only a connection that was up is retried. The CLI
	// sets it, so that a wrong address fails at once.
	ConnectFirst bool
	// PageURL is the browser page's address as its users reach it, for
	// sign-in links; default: the page at Relay (PageURL). A client
	// that reaches the relay in-process (the SSH server's) sets it.
	PageURL string
	// EventBuffer is the capacity of the Events channel; default 1024. A
	// consumer slower than the relay's output backs up to the relay, which
	// cuts the connection; with Reconnect the client then resumes.
	EventBuffer int
}

// Connection states reported in ConnState events.
const (
	Connected    = "connected"
	Reconnecting = "reconnecting"
	Offline      = "offline"
)

// Events delivered on Client.Events.
type (
	// Output is a run of a subscribed command's output. Offsets only grow:
	// no byte is delivered twice, even across reconnects.
	Output struct {
		CommandID string
		Offset    int64
		Data      []byte
	}
	// OutputEnd: the command is final and all its output was delivered.
	OutputEnd struct {
		CommandID string
		Offset    int64
	}
	// Resynced: the state was replaced by a fresh snapshot (after each
	// connect). Call State for it.
	Resynced struct{ Seq uint64 }
	// AgentChanged and CommandChanged are relay events, in relay order.
	AgentChanged   struct{ Agent wire.Agent }
	CommandChanged struct{ Command wire.Command }
	// AgentRemoved: an admin forgot the agent; it has left the state.
	AgentRemoved struct{ AgentID string }
	// CommandRemoved: retention removed the finished command from
	// history; it has left the state.
	CommandRemoved struct{ CommandID string }
	// ConnState reports the connection: Connected, Reconnecting (with the
	// wait before the next attempt) or Offline (the client has stopped).
	ConnState struct {
		State   string
		RetryIn time.Duration
		Err     error
		// Relay is the relay's dashboard URL: the one connected to
		// (Connected) or the one the next attempt goes to (Reconnecting).
		Relay string
		// Failed is the relay Err came from (Reconnecting, Offline).
		Failed string
		// From, when Connected, is the relay of the previous connection
		// when it was another one: the client moved from it to Relay.
		From string
	}
	// ServerError is an error from the relay not tied to a request.
	ServerError struct{ *wire.Error }
)

// State is the client's copy of the relay's live state.
type State struct {
	Seq      uint64
	Agents   map[string]wire.Agent
	Commands map[string]wire.Command
}

// ErrClosed is returned by calls on a closed client.
var ErrClosed = errors.New("client closed")

// Client is a dashboard connection. Its methods are safe for concurrent use.
type Client struct {
	cfg    Config
	ring   *relayring.Ring // the relays' dashboard URLs; owned by Dial, then by loop
	log    *slog.Logger
	events chan any
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the connection loop has ended
	nextID atomic.Uint64

	mu      sync.Mutex
	cur     *session // nil while disconnected
	state   State
	subs    map[string]*subscription
	pending map[string]chan wire.Message // request id -> reply
	err     error                        // why the client ended
}

type subscription struct {
	next int64 // first byte still to deliver
	from int64 // the offset asked for
	// The relay's subscribed marker for it came: frames and output.end
	// before the marker belong to an earlier subscription (one ended by
	// Unsubscribe, or of an earlier connection) and are ignored.
	confirmed bool
}

// Dial connects and waits for the relay's snapshot. With cfg.Reconnect the
// client then survives disconnects, and an unreachable relay at the start
// is retried like a later disconnect (ConnState events say so); without
// it, any failure or disconnect ends it.
//
// With several relays (Config.Relays), Dial tries each in turn until one
// answers, and the client moves between them as relayring says.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	urls, err := dashboardURLs(cfg.Relay, cfg.Relays)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Dialer == nil {
		cfg.Dialer = websocket.DefaultDialer
	}
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = 1024
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &Client{cfg: cfg, ring: relayring.New(urls, stableAfter), log: cfg.Logger, events: make(chan any, cfg.EventBuffer),
		ctx: cctx, cancel: cancel, done: make(chan struct{}),
		subs: make(map[string]*subscription), pending: make(map[string]chan wire.Message)}
	s, err := c.connectAny(ctx)
	if err != nil && (!cfg.Reconnect || cfg.ConnectFirst || refusal(err) || ctx.Err() != nil) {
		// Without Reconnect every failure is final; with it, only the
		// relay's own refusal (a bad token, another protocol) is.
		cancel()
		return nil, err
	}
	go c.loop(s, err)
	return c, nil
}

// Events returns the channel of events; it is closed when the client ends.
func (c *Client) Events() <-chan any { return c.events }

// Done is closed when the client has ended; Err says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client ended, or nil while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Relay returns the dashboard URL of the relay the client is connected
// to, or "" while it is not connected.
func (c *Client) Relay() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return ""
	}
	return c.cur.url
}

// State returns a copy of the current live state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := State{Seq: c.state.Seq, Agents: make(map[string]wire.Agent, len(c.state.Agents)),
		Commands: make(map[string]wire.Command, len(c.state.Commands))}
	for k, v := range c.state.Agents {
		s.Agents[k] = v
	}
	for k, v := range c.state.Commands {
		s.Commands[k] = v
	}
	return s
}

// Close disconnects and ends the client.
func (c *Client) Close() error {
	c.cancel()
	<-c.done
	return nil
}

// emit delivers an event, waiting for the consumer unless the client ends.
func (c *Client) emit(ev any) {
	select {
	case c.events <- ev:
	case <-c.ctx.Done():
	}
}

// session returns the live session or an error saying there is none.
func (c *Client) session() (*session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil {
		return nil, ErrClosed
	}
	if c.cur == nil {
		return nil, errors.New("not connected to the relay")
	}
	return c.cur, nil
}

// request sends m and waits for the reply carrying its request id.
func (c *Client) request(ctx context.Context, m wire.Message, setID func(string)) (wire.Message, error) {
	id := fmt.Sprintf("r%d", c.nextID.Add(1))
	setID(id)
	reply := make(chan wire.Message, 1)
	c.mu.Lock()
	c.pending[id] = reply
	cur := c.cur
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	if c.ctx.Err() != nil {
		return nil, ErrClosed
	}
	if cur == nil {
		return nil, errors.New("not connected to the relay")
	}
	if err := cur.send(m); err != nil {
		return nil, err
	}
	select {
	case r := <-reply:
		if e, ok := r.(*wire.Error); ok {
			return nil, e
		}
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, ErrClosed
	}
}

// Run starts a command on the targets and returns the queued commands.
func (c *Client) Run(ctx context.Context, targets wire.Targets, spec wire.CommandSpec) ([]wire.Command, error) {
	m := &wire.Run{Targets: targets, CommandSpec: spec}
	r, err := c.request(ctx, m, func(id string) { m.RequestID = id })
	if err != nil {
		return nil, err
	}
	acc, ok := r.(*wire.RunAccepted)
	if !ok {
		return nil, fmt.Errorf("run: unexpected reply %s", r.MessageType())
	}
	return acc.Commands, nil
}

// History returns stored commands, newest first.
func (c *Client) History(ctx context.Context, q wire.HistoryQuery) ([]wire.Command, error) {
	r, err := c.request(ctx, &q, func(id string) { q.RequestID = id })
	if err != nil {
		return nil, err
	}
	h, ok := r.(*wire.HistoryResult)
	if !ok {
		return nil, fmt.Errorf("history: unexpected reply %s", r.MessageType())
	}
	return h.Commands, nil
}

// Audit returns the newest entries of the audit trail (admin tokens only).
func (c *Client) Audit(ctx context.Context, limit int) ([]wire.AuditEntry, error) {
	q := &wire.AuditQuery{Limit: limit}
	r, err := c.request(ctx, q, func(id string) { q.RequestID = id })
	if err != nil {
		return nil, err
	}
	a, ok := r.(*wire.AuditResult)
	if !ok {
		return nil, fmt.Errorf("audit: unexpected reply %s", r.MessageType())
	}
	return a.Entries, nil
}

// Subscribe follows a command's output from offset; Output events follow,
// then OutputEnd. The subscription survives reconnects.
func (c *Client) Subscribe(commandID string, offset int64) error {
	c.mu.Lock()
	c.subs[commandID] = &subscription{next: offset, from: offset}
	cur := c.cur
	c.mu.Unlock()
	if cur == nil {
		return nil // sent on reconnect
	}
	return cur.send(&wire.Subscribe{CommandID: commandID, Offset: offset})
}

// Unsubscribe stops following a command's output.
func (c *Client) Unsubscribe(commandID string) error {
	c.mu.Lock()
	delete(c.subs, commandID)
	c.mu.Unlock()
	s, err := c.session()
	if err != nil {
		return err
	}
	return s.send(&wire.Unsubscribe{CommandID: commandID})
}

// Input sends bytes a person typed or pasted to a running command's
// terminal.
func (c *Client) Input(commandID string, data []byte) error {
	return c.sendTerminal(wire.AppendInputFrame, commandID, data)
}

// Reply sends a terminal emulator's answer to a query in a running
// command's live output. The relay passes it on only while this client
// controls the command (it sent the command input last), so a caller need
// not know whether others watch.
func (c *Client) Reply(commandID string, data []byte) error {
	return c.sendTerminal(wire.AppendReplyFrame, commandID, data)
}

func (c *Client) sendTerminal(frame func(dst []byte, id string, data []byte) []byte, commandID string, data []byte) error {
	s, err := c.session()
	if err != nil {
		return err
	}
	for len(data) > 0 {
		n := min(len(data), wire.MaxChunk)
		if err := s.sendBinary(frame(make([]byte, 0, 2+len(commandID)+n), commandID, data[:n])); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// Resize changes a running command's terminal size.
func (c *Client) Resize(commandID string, cols, rows int) error {
	s, err := c.session()
	if err != nil {
		return err
	}
	return s.send(&wire.Resize{CommandID: commandID, Cols: cols, Rows: rows})
}

// Cancel asks the relay to stop a queued or running command. Its effect
// arrives as a CommandChanged event; a refusal as a ServerError.
func (c *Client) Cancel(commandID string) error {
	s, err := c.session()
	if err != nil {
		return err
	}
	return s.send(&wire.Cancel{CommandID: commandID})
}

// RestartSession asks the relay to start an agent's session program again
// (the agent is named by id or name). The new session arrives as a
// CommandChanged event; a refusal as a ServerError.
func (c *Client) RestartSession(agent string) error {
	s, err := c.session()
	if err != nil {
		return err
	}
	return s.send(&wire.RestartSession{Agent: agent})
}
