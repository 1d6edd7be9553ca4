package tui

import (
	"context"
	"log/slog"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"switchboard/internal/client"
	"switchboard/internal/wire"
)

// Backend is what the dashboard needs of the relay; *client.Client is the
// real one, and tests use a fake.
type Backend interface {
	Events() <-chan any
	State() client.State
	Run(ctx context.Context, targets wire.Targets, spec wire.CommandSpec) ([]wire.Command, error)
	History(ctx context.Context, q wire.HistoryQuery) ([]wire.Command, error)
	Search(ctx context.Context, q wire.SearchQuery) (*wire.SearchResult, error)
	Timing(ctx context.Context, commandID string) ([]wire.TimingEvent, error)
	Subscribe(commandID string, offset int64) error
	Unsubscribe(commandID string) error
	Input(commandID string, data []byte) error
	Reply(commandID string, data []byte) error
	Resize(commandID string, cols, rows int) error
	Cancel(commandID string) error
	SignIn(ctx context.Context) (link string, expires time.Time, err error)
	RestartSession(agent string) error
	QuickReply(ctx context.Context, m wire.QuickReply) (commandID string, err error)
	ForgetAgent(ctx context.Context, agent string) (string, error)
}

var _ Backend = (*client.Client)(nil)

// maxBatch bounds how many client events one message carries.
const maxBatch = 1024

// Messages carrying relay events into Update.
type (
	// eventsMsg is a batch of client events, in order. Taking all that are
	// waiting at once keeps a flood of output from costing one Update and
	// one View per frame of output.
	eventsMsg struct{ events []any }
	// clientClosedMsg: the client's event channel closed; it has ended.
	clientClosedMsg struct{}
	// sendFailedMsg: a queued request to the relay failed.
	sendFailedMsg struct {
		what string
		err  error
	}
)

// waitEvents is the command that brings relay events into the model: it
// waits for the next event or outbox failure, takes whatever else is
// already queued, and returns them as one message. Update issues it again
// after each batch.
func waitEvents(events <-chan any, failures <-chan sendFailedMsg) tea.Cmd {
	return func() tea.Msg {
		var first any
		select {
		case ev, ok := <-events:
			if !ok {
				return clientClosedMsg{}
			}
			first = ev
		case f := <-failures:
			return f
		}
		batch := []any{first}
		for len(batch) < maxBatch {
			select {
			case ev, ok := <-events:
				if !ok {
					return eventsMsg{batch}
				}
				batch = append(batch, ev)
			default:
				return eventsMsg{batch}
			}
		}
		return eventsMsg{batch}
	}
}

// outbox sends fire-and-forget requests (subscribe, input, resize, cancel)
// to the relay in the order Update queued them, on a goroutine it owns, so
// Update never waits on the network and typed keys never overtake each
// other. A failure comes back as a sendFailedMsg.
type outbox struct {
	b        Backend
	log      *slog.Logger
	failures chan sendFailedMsg

	mu     sync.Mutex
	queue  []outOp
	wake   chan struct{}
	closed bool
	done   chan struct{}
}

type outOp struct {
	what string
	do   func(Backend) error
}

func newOutbox(b Backend, log *slog.Logger) *outbox {
	o := &outbox{b: b, log: log, failures: make(chan sendFailedMsg, 16),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	go o.run()
	return o
}

// push queues op without blocking.
func (o *outbox) push(what string, do func(Backend) error) {
	o.mu.Lock()
	if !o.closed {
		o.queue = append(o.queue, outOp{what, do})
	}
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbox) run() {
	defer close(o.done)
	for range o.wake {
		for {
			o.mu.Lock()
			if len(o.queue) == 0 {
				closed := o.closed
				o.mu.Unlock()
				if closed {
					return
				}
				break
			}
			op := o.queue[0]
			o.queue = o.queue[1:]
			o.mu.Unlock()
			if err := op.do(o.b); err != nil {
				o.log.Debug("request to relay failed", "what", op.what, "err", err)
				select {
				case o.failures <- sendFailedMsg{op.what, err}:
				default: // the UI already has failures to show
				}
			}
		}
	}
}

// close sends what is queued, then stops the goroutine.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	<-o.done
}

func (o *outbox) subscribe(id string, off int64) {
	o.push("subscribe", func(b Backend) error { return b.Subscribe(id, off) })
}

func (o *outbox) unsubscribe(id string) {
	o.push("unsubscribe", func(b Backend) error { return b.Unsubscribe(id) })
}

func (o *outbox) input(id string, data []byte) {
	o.push("input", func(b Backend) error { return b.Input(id, data) })
}

func (o *outbox) reply(id string, data []byte) {
	o.push("reply", func(b Backend) error { return b.Reply(id, data) })
}

func (o *outbox) resize(id string, cols, rows int) {
	o.push("resize", func(b Backend) error { return b.Resize(id, cols, rows) })
}

func (o *outbox) restartSession(agent string) {
	o.push("restart session", func(b Backend) error { return b.RestartSession(agent) })
}

func (o *outbox) cancel(id string) {
	o.push("cancel", func(b Backend) error { return b.Cancel(id) })
}
