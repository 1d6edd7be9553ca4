package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"switchboard/internal/hub"
	"switchboard/internal/wire"
)

// Timing of the relays' presence on the bus.
const (
	beatEvery = 500 * time.Millisecond // a relay's heartbeat
	deadAfter = 2 * time.Second        // silence after which a relay counts as gone
	// settle is how long a starting relay listens for the others'
	// heartbeats before it takes any agent: until then it cannot tell a
	// live relay's commands from a dead one's.
	settle = 3 * beatEvery
)

// Config says where the bus is and who this relay is on it.
type Config struct {
	URL    string // nats://host:4222
	ID     string // this relay's id: letters, digits, '-' and '_'
	Prefix string // subjects and the stream are named after it; default "switchboard"
	Logger *slog.Logger
}

var idForm = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckID reports whether id may name a relay (or a prefix) on the bus.
func CheckID(id string) error {
	if !idForm.MatchString(id) {
		return fmt.Errorf("%q: use 1 to 64 letters, digits, '-' or '_'", id)
	}
	return nil
}

// Bus is hub.Bus over NATS: JetStream for the log of events, core NATS
// for the rest. Connect makes one; hub.Local runs it (Run).
type Bus struct {
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	stream string
	boot   string // distinguishes this start's message ids from an earlier one's

	mu     sync.Mutex // guards the fields below; a leaf
	queue  []hub.BusEvent
	n      uint64               // events queued so far
	seen   map[string]time.Time // other relays' last heartbeat
	gone   map[string]bool      // relays reported gone (RelayGone), until heard again
	wake   chan struct{}        // the publisher has work
	member hub.Member
}

var _ hub.Bus = (*Bus)(nil)

// Connect joins the bus at cfg.URL and makes sure the stream of events
// exists. NATS may go away later: the client reconnects for ever.
func Connect(ctx context.Context, cfg Config) (*Bus, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "switchboard"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := CheckID(cfg.ID); err != nil {
		return nil, fmt.Errorf("relay id %w", err)
	}
	if err := CheckID(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("cluster prefix %w", err)
	}
	b := &Bus{cfg: cfg, log: cfg.Logger.With("relay_id", cfg.ID), stream: cfg.Prefix + "_events",
		boot: wire.NewID("b"), seen: make(map[string]time.Time), gone: make(map[string]bool), wake: make(chan struct{}, 1)}
	nc, err := nats.Connect(cfg.URL, nats.Name("switchboard relay "+cfg.ID), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond), nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { b.log.Warn("cluster bus disconnected", "err", err) }),
		nats.ReconnectHandler(func(*nats.Conn) {
			b.log.Info("cluster bus reconnected")
			b.mu.Lock()
			m := b.member
			b.mu.Unlock()
			if m != nil {
				go m.Reconnected() // not on nats.go's callback goroutine, which the hub's requests may wait behind
			}
		}))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", cfg.URL, err)
	}
	b.nc = nc
	if b.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("JetStream: %w", err)
	}
	// One message per agent and per command is kept: the log a starting
	// relay reads is the last word on each, in the order it was said.
	_, err = b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: b.stream, Subjects: []string{cfg.Prefix + ".ev.>"},
		Storage: jetstream.FileStorage, MaxMsgsPerSubject: 1, Duplicates: 2 * time.Minute})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("create the stream %s (is JetStream on?): %w", b.stream, err)
	}
	return b, nil
}

// ID implements hub.Bus.
func (b *Bus) ID() string { return b.cfg.ID }

// Close leaves the bus.
func (b *Bus) Close() { b.nc.Close() }

func (b *Bus) subject(parts ...string) string {
	s := b.cfg.Prefix
	for _, p := range parts {
		s += "." + p
	}
	return s
}

// token makes an id usable in a subject.
func token(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

// Publish implements hub.Bus: the event joins the publisher's queue.
func (b *Bus) Publish(ev hub.BusEvent) {
	b.mu.Lock()
	b.queue = append(b.queue, ev)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// publish sends queued events in order, each until JetStream has it: a
// retry carries the same message id, so the stream keeps one copy.
func (b *Bus) publish(ctx context.Context) {
	for {
		b.mu.Lock()
		q := b.queue
		b.queue = nil
		first := b.n
		b.n += uint64(len(q))
		b.mu.Unlock()
		for i, ev := range q {
			msg := b.eventMsg(ev, b.boot+"-"+strconv.FormatUint(first+uint64(i), 10))
			for wait := 50 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
				pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := b.js.PublishMsg(pctx, msg)
				cancel()
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					return
				}
				b.log.Warn("publish cluster event; retrying", "kind", ev.Kind, "subject", ev.Subject, "err", err)
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-b.wake:
		case <-ctx.Done():
			return
		}
	}
}

func (b *Bus) eventMsg(ev hub.BusEvent, id string) *nats.Msg {
	kind := "c"
	if ev.Kind != wire.TypeCommandEvent {
		kind = "a" // agent events and removals: the last one is the agent's
	}
	m := nats.NewMsg(b.subject("ev", kind, token(ev.Subject)))
	m.Data = ev.Data
	m.Header.Set(jetstream.MsgIDHeader, id)
	m.Header.Set("Sb-Origin", b.cfg.ID)
	m.Header.Set("Sb-Kind", ev.Kind)
	m.Header.Set("Sb-Subject", ev.Subject)
	m.Header.Set("Sb-Agent", ev.AgentID)
	m.Header.Set("Sb-Holder", ev.Holder)
	m.Header.Set("Sb-Was", ev.Was)
	m.Header.Set("Sb-Epoch", strconv.FormatUint(ev.Epoch, 10))
	return m
}

// Alive implements hub.Bus.
func (b *Bus) Alive(relay string) bool {
	if relay == b.cfg.ID {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.seen[relay]
	return ok && time.Since(t) < deadAfter
}

// Leader implements hub.Bus: this relay's id is the least of the live
// relays' (each relay decides alone, from the heartbeats it heard).
func (b *Bus) Leader() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, t := range b.seen {
		if id < b.cfg.ID && time.Since(t) < deadAfter {
			return false
		}
	}
	return true
}

// request is what relays ask each other (hand-off, release).
type request struct {
	Op      string        `json:"op"`
	From    string        `json:"from"`
	Command *wire.Command `json:"command,omitempty"`
	Epoch   uint64        `json:"epoch,omitempty"`
	AgentID string        `json:"agent_id,omitempty"`
}

type answer struct {
	Error string           `json:"error,omitempty"`
	Ends  map[string]int64 `json:"ends,omitempty"`
}

func (b *Bus) ask(ctx context.Context, relay string, r request) (answer, error) {
	r.From = b.cfg.ID
	data, err := json.Marshal(r)
	if err != nil {
		return answer{}, err
	}
	msg, err := b.nc.RequestWithContext(ctx, b.subject("relay", relay, "req"), data)
	if err != nil {
		return answer{}, fmt.Errorf("ask relay %s to %s: %w", relay, r.Op, err)
	}
	var a answer
	if err := json.Unmarshal(msg.Data, &a); err != nil {
		return a, fmt.Errorf("relay %s's answer to %s: %w", relay, r.Op, err)
	}
	if a.Error != "" {
		return a, fmt.Errorf("relay %s: %s", relay, a.Error)
	}
	return a, nil
}

// Handoff implements hub.Bus.
func (b *Bus) Handoff(ctx context.Context, relay string, c wire.Command, epoch uint64) error {
	_, err := b.ask(ctx, relay, request{Op: "handoff", Command: &c, Epoch: epoch})
	return err
}

// Release implements hub.Bus.
func (b *Bus) Release(ctx context.Context, relay, agentID string) (map[string]int64, error) {
	a, err := b.ask(ctx, relay, request{Op: "release", AgentID: agentID})
	return a.Ends, err
}

// Forward implements hub.Bus.
func (b *Bus) Forward(relay string, r hub.ProxyRequest) {
	m := nats.NewMsg(b.subject("relay", relay, "fwd"))
	m.Data = r.Data
	who, _ := hub.MarshalActor(r.Who) // an Actor always encodes
	m.Header.Set("Sb-Origin", b.cfg.ID)
	m.Header.Set("Sb-Dash", r.Dash)
	m.Header.Set("Sb-Client", r.Client)
	m.Header.Set("Sb-Op", r.Op)
	m.Header.Set("Sb-Who", string(who))
	if err := b.nc.PublishMsg(m); err != nil {
		b.log.Warn("forward a dashboard's request", "relay", relay, "op", r.Op, "err", err)
	}
}

// ToDashboard implements hub.Bus. The message is
// [kind][len(dash)][dash][len(from)][from][data], from being this relay's
// id: no headers to build on output's path.
func (b *Bus) ToDashboard(relay, dash string, kind int, data []byte) {
	buf := make([]byte, 0, 3+len(dash)+len(b.cfg.ID)+len(data))
	buf = append(buf, byte(kind), byte(len(dash)))
	buf = append(buf, dash...)
	buf = append(buf, byte(len(b.cfg.ID)))
	buf = append(buf, b.cfg.ID...)
	buf = append(buf, data...)
	if err := b.nc.Publish(b.subject("dash", relay), buf); err != nil {
		b.log.Debug("send to another relay's dashboard", "relay", relay, "err", err)
	}
}

var errShort = errors.New("short message")

func parseToDashboard(buf []byte) (kind int, dash, from string, data []byte, err error) {
	if len(buf) < 3 || len(buf) < 3+int(buf[1]) {
		return 0, "", "", nil, errShort
	}
	n := int(buf[1])
	dash, rest := string(buf[2:2+n]), buf[2+n:]
	if len(rest) < 1+int(rest[0]) {
		return 0, "", "", nil, errShort
	}
	m := int(rest[0])
	return int(buf[0]), dash, string(rest[1 : 1+m]), rest[1+m:], nil
}
