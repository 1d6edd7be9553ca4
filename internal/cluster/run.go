package cluster

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"switchboard/internal/hub"
)

// Run implements hub.Bus: it delivers the log of events and the other
// relays' requests to m until ctx ends, and publishes this relay's events
// and heartbeats meanwhile.
func (b *Bus) Run(ctx context.Context, m hub.Member) {
	b.mu.Lock()
	b.member = m
	b.mu.Unlock()
	var bg sync.WaitGroup
	bg.Go(func() { b.publish(ctx) })
	bg.Go(func() { b.beat(ctx) })
	var subs []*nats.Subscription
	for subj, handle := range map[string]nats.MsgHandler{
		b.subject("hb"):                     b.onBeat,
		b.subject("relay", b.cfg.ID, "req"): b.onRequest,
		b.subject("relay", b.cfg.ID, "fwd"): b.onForward,
		b.subject("dash", b.cfg.ID):         b.onDashboard,
	} {
		sub, err := b.nc.Subscribe(subj, handle)
		if err != nil {
			b.log.Error("subscribe on the cluster bus", "subject", subj, "err", err)
			continue
		}
		_ = sub.SetPendingLimits(-1, 256<<20) // what a dashboard cannot take is cut by its own relay
		subs = append(subs, sub)
	}
	bg.Go(func() { b.consume(ctx, m) })
	<-ctx.Done()
	for _, s := range subs {
		_ = s.Unsubscribe()
	}
	bg.Wait()
	_ = b.nc.Flush()
}

// consume applies the log of events, from its start, to m; the part
// logged before this start is a replay. The ordered consumer resumes
// after the last sequence it delivered when NATS comes back.
func (b *Bus) consume(ctx context.Context, m hub.Member) {
	var last uint64
	for {
		info, err := b.js.Stream(ctx, b.stream)
		if err == nil {
			last = info.CachedInfo().State.LastSeq
			break
		}
		b.log.Warn("read the cluster stream; retrying", "err", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return
		}
	}
	started := time.Now()
	var once sync.Once
	replayed := func() {
		once.Do(func() {
			time.Sleep(time.Until(started.Add(settle))) // heard every live relay's heartbeat
			m.Replayed()
		})
	}
	cons, err := b.js.OrderedConsumer(ctx, b.stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		b.log.Error("consume the cluster stream", "err", err)
		return
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		md, err := msg.Metadata()
		if err != nil {
			return
		}
		seq := md.Sequence.Stream
		h := msg.Headers()
		epoch, _ := strconv.ParseUint(h.Get("Sb-Epoch"), 10, 64)
		ev := hub.BusEvent{Kind: h.Get("Sb-Kind"), Subject: h.Get("Sb-Subject"), AgentID: h.Get("Sb-Agent"),
			Holder: h.Get("Sb-Holder"), Was: h.Get("Sb-Was"), Epoch: epoch, Data: msg.Data()}
		m.ApplyEvent(seq, h.Get("Sb-Origin"), ev, seq <= last)
		if seq >= last {
			replayed()
		}
	})
	if err != nil {
		b.log.Error("consume the cluster stream", "err", err)
		return
	}
	if last == 0 {
		replayed()
	}
	<-ctx.Done()
	cc.Stop()
}

// beat announces this relay every beatEvery and reports relays that went
// silent.
func (b *Bus) beat(ctx context.Context) {
	t := time.NewTicker(beatEvery)
	defer t.Stop()
	for {
		_ = b.nc.Publish(b.subject("hb"), []byte(b.cfg.ID))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var gone []string
		b.mu.Lock()
		for id, at := range b.seen {
			if time.Since(at) >= deadAfter && !b.gone[id] {
				b.gone[id] = true
				gone = append(gone, id)
			}
		}
		m := b.member
		b.mu.Unlock()
		for _, id := range gone {
			b.log.Warn("relay gone silent", "relay", id)
			m.RelayGone(id)
		}
	}
}

func (b *Bus) onBeat(msg *nats.Msg) {
	id := string(msg.Data)
	if id == b.cfg.ID || CheckID(id) != nil {
		return
	}
	b.mu.Lock()
	if _, known := b.seen[id]; !known || b.gone[id] {
		b.log.Info("relay heard", "relay", id)
	}
	b.seen[id] = time.Now()
	delete(b.gone, id)
	b.mu.Unlock()
}

func (b *Bus) onRequest(msg *nats.Msg) {
	var r request
	var a answer
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		a.Error = "undecodable request: " + err.Error()
	} else {
		switch r.Op {
		case "handoff":
			if r.Command == nil {
				a.Error = "handoff without a command"
			} else if err := b.member.Adopt(*r.Command, r.Epoch); err != nil {
				a.Error = err.Error()
			}
		case "release":
			// Waits for the store: not on the subscription's goroutine,
			// which the next request would wait behind.
			go func() {
				a := answer{Ends: b.member.ReleaseAgent(r.AgentID, r.From)}
				data, _ := json.Marshal(a)
				_ = msg.Respond(data)
			}()
			return
		default:
			a.Error = "unknown request " + r.Op
		}
	}
	data, _ := json.Marshal(a)
	_ = msg.Respond(data)
}

func (b *Bus) onForward(msg *nats.Msg) {
	who, err := hub.UnmarshalActor([]byte(msg.Header.Get("Sb-Who")))
	if err != nil {
		b.log.Warn("forwarded request without who", "err", err)
		return
	}
	b.member.Proxy(msg.Header.Get("Sb-Origin"), hub.ProxyRequest{Dash: msg.Header.Get("Sb-Dash"),
		Client: msg.Header.Get("Sb-Client"), Who: who, Op: msg.Header.Get("Sb-Op"), Data: msg.Data})
}

func (b *Bus) onDashboard(msg *nats.Msg) {
	kind, dash, from, data, err := parseToDashboard(msg.Data)
	if err != nil {
		return
	}
	b.member.Deliver(from, dash, kind, data)
}
