package hub

import (
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// Dashboards across relays (Config.Bus): a dashboard's request about a
// command another relay owns is forwarded there (forward), where a proxy
// dashboard makes it as a local one would (Proxy); what the owner sends
// that dashboard comes back over the bus (Deliver). A forwarded output
// subscription (dashboardSub.remote) remembers the next offset it needs,
// so that it resumes there when the command's owner changes (rehome) or
// a frame was lost between relays: every byte reaches the dashboard once.

// ownerLocked is the live relay that owns command id, as d may see it; ""
// when this relay serves it.
func (h *Local) ownerLocked(d *dashboard, id string) string {
	if h.bus == nil || d.proxyOf != "" {
		return "" // a proxy's requests are this relay's to answer
	}
	cs := h.commands[id]
	if cs == nil || cs.owner == "" || cs.owner == unknownOwner || !h.seesAgentLocked(d.who, cs.cmd.AgentID) {
		return ""
	}
	if !h.bus.Alive(cs.owner) {
		return ""
	}
	return cs.owner
}

// forward sends a request about command id to its owner if another relay
// owns it, reporting whether it did.
func (h *Local) forward(d *dashboard, id, op string, m wire.Message) bool {
	if h.bus == nil {
		return false
	}
	h.mu.Lock()
	owner := h.ownerLocked(d, id)
	h.mu.Unlock()
	if owner == "" {
		return false
	}
	h.sendTo(d, owner, op, wire.MustEncode(m))
	return true
}

func (h *Local) sendTo(d *dashboard, owner, op string, data []byte) {
	d.mu.Lock()
	if d.remotes == nil {
		d.remotes = make(map[string]bool)
	}
	d.remotes[owner] = true
	d.mu.Unlock()
	h.bus.Forward(owner, ProxyRequest{Dash: d.id, Client: d.client, Who: d.who, Op: op, Data: data})
}

// Proxy implements Member: a request from a dashboard of relay origin.
func (h *Local) Proxy(origin string, r ProxyRequest) {
	key := origin + "/" + r.Dash
	h.mu.Lock()
	pd := h.proxies[key]
	if pd == nil && r.Op != OpLeave {
		pd = h.newDashboard(&busPeer{bus: h.bus, relay: origin, dash: r.Dash, killed: make(chan struct{})}, r.Who, r.Client)
		pd.proxyOf = origin
		h.proxies[key] = pd
	}
	if r.Op == OpLeave {
		delete(h.proxies, key)
	}
	h.mu.Unlock()
	if pd == nil {
		return
	}
	if r.Op == OpInput {
		f, err := wire.ParseFrame(r.Data)
		if err == nil {
			h.dashboardInput(pd, f, r.Data)
		}
		return
	}
	if r.Op == OpLeave {
		pd.proxyEnd()
		return
	}
	m, err := wire.Decode(r.Data)
	if err != nil {
		h.log.Warn("forwarded request undecodable", "relay", origin, "op", r.Op, "err", err)
		return
	}
	switch m := m.(type) {
	case *wire.Subscribe:
		if h.ownsOrStored(m.CommandID) {
			h.subscribe(pd, m)
		} // else: it moved on; its relay follows it when the log says where (rehome)
	case *wire.Unsubscribe:
		pd.Unsubscribe(m.CommandID)
	case *wire.Resize:
		h.resize(pd, m)
	case *wire.Cancel:
		h.cancelCommand(pd, m)
	case *wire.QuickReply:
		h.quickReply(pd, m)
	case *wire.RestartSession:
		h.restartSession(pd, m)
	}
}

// proxyEnd ends a proxy dashboard.
func (d *dashboard) proxyEnd() {
	if p, ok := d.peer.(*busPeer); ok {
		p.once.Do(func() { close(p.killed) })
	}
	d.Leave()
}

// Deliver implements Member: a message relay from sent a dashboard of
// this one. Output frames are checked against the subscription's next
// offset: a repeat is cut, and a gap (a frame lost between relays)
// subscribes again from the first byte missing. Frames and subscribed
// count only from the relay the subscription was forwarded to: one that
// served it before may still be sending.
func (h *Local) Deliver(from, dash string, kind int, data []byte) {
	h.mu.Lock()
	d := h.dashByID[dash]
	h.mu.Unlock()
	if d == nil {
		return
	}
	if kind&^urgent == transport.Binary {
		if data = d.remoteFrame(from, data); data != nil {
			m := transport.Message{Kind: transport.Binary, Data: data}
			if kind&urgent != 0 {
				d.peer.SendNow(m)
			} else {
				d.peer.SendSoon(m)
			}
		}
		return
	}
	m, err := wire.Decode(data)
	if err != nil {
		return
	}
	switch m := m.(type) {
	case *wire.Subscribed:
		d.mu.Lock()
		if sub := d.subs[m.CommandID]; sub != nil && sub.isRemote && sub.remote == from {
			sub.resyncing = false
		}
		d.mu.Unlock()
		return // the dashboard had its own at subscribe
	case *wire.OutputEnd:
		d.mu.Lock()
		sub := d.subs[m.CommandID]
		stale := sub != nil && sub.isRemote && sub.remote != from
		if sub != nil && sub.isRemote && !stale && m.Offset >= sub.next {
			delete(d.subs, m.CommandID)
		}
		d.mu.Unlock()
		if stale {
			return // from a relay that served it before: its owner will end it
		}
	}
	d.peer.Send(transport.Message{Kind: transport.Text, Data: data})
}

// remoteFrame returns the part of a forwarded output frame the dashboard
// still needs, or nil.
func (d *dashboard) remoteFrame(from string, data []byte) []byte {
	f, err := wire.ParseFrame(data)
	if err != nil || f.Kind != wire.FrameOutput {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	sub := d.subs[f.CommandID]
	if sub == nil || !sub.isRemote || sub.remote != from || sub.resyncing || f.End() <= sub.next {
		return nil
	}
	if f.Offset > sub.next {
		if sub.remote != "" {
			sub.resyncing = true
			d.h.forwardSubscribeLocked(d, sub, f.CommandID)
		}
		return nil
	}
	if f.Offset < sub.next {
		data = wire.OutputFrame(f.CommandID, sub.next, f.Data[sub.next-f.Offset:])
	}
	sub.next = f.End()
	return data
}

// forwardSubscribeLocked asks sub's owner for the output from sub.next;
// d.mu is held.
func (h *Local) forwardSubscribeLocked(d *dashboard, sub *dashboardSub, id string) {
	sub.askedAt = time.Now()
	if d.remotes == nil {
		d.remotes = make(map[string]bool)
	}
	d.remotes[sub.remote] = true
	h.bus.Forward(sub.remote, ProxyRequest{Dash: d.id, Client: d.client, Who: d.who, Op: OpSubscribe,
		Data: wire.MustEncode(&wire.Subscribe{CommandID: id, Offset: sub.next})})
}

// ownsOrStored reports whether this relay serves command id to another
// relay's dashboard: it owns it, or it is over. One this relay has not
// heard of yet is not its to serve (the dashboard's relay asks again).
func (h *Local) ownsOrStored(id string) bool {
	h.mu.Lock()
	cs := h.commands[id]
	serve := cs != nil && (cs.owner == "" || cs.cmd.State.Final())
	h.mu.Unlock()
	if cs != nil {
		return serve
	}
	cmds, err := h.store.History(h.ctx, store.HistoryQuery{ID: id, Limit: 1})
	return err == nil && len(cmds) == 1 && cmds[0].State.Final()
}

// askAgain is how long a forwarded subscription waits for its owner's
// subscribed before asking again: the request, or the answer, may have
// been lost between relays, or gone to a relay that no longer owns it.
const askAgain = 2 * time.Second

// resync asks again for the forwarded subscriptions that are waiting too
// long for an answer, and for those waiting for an owner that is now
// known. After a reconnection to NATS (all) it asks for every one.
func (h *Local) resync(all bool) {
	h.mu.Lock()
	ds := make([]*dashboard, 0, len(h.dashboards))
	for d := range h.dashboards {
		ds = append(ds, d)
	}
	owners := make(map[string]string)
	h.mu.Unlock()
	for _, d := range ds {
		d.mu.Lock()
		for id, sub := range d.subs {
			if !sub.isRemote {
				continue
			}
			if sub.remote == "" {
				owners[id] = ""
				continue
			}
			if all || (sub.resyncing && time.Since(sub.askedAt) > askAgain) {
				sub.resyncing = true
				h.forwardSubscribeLocked(d, sub, id)
			}
		}
		d.mu.Unlock()
	}
	if len(owners) > 0 {
		h.rehome(slices.Collect(maps.Keys(owners)))
	}
}

// Reconnected implements Member: messages between relays may have been
// lost while this relay was away from NATS.
func (h *Local) Reconnected() { h.resync(true) }

// rehome moves the subscriptions of commands whose owner changed to the
// new owner, from the offset each needs next: forwarded ones, and those
// this relay served while it owned the command.
func (h *Local) rehome(ids []string) {
	if len(ids) == 0 {
		return
	}
	h.mu.Lock()
	owners := make(map[string]string, len(ids))
	for _, id := range ids {
		if cs := h.commands[id]; cs != nil {
			owners[id] = cs.owner
			if cs.owner != "" && !h.bus.Alive(cs.owner) {
				owners[id] = unknownOwner
			}
		}
	}
	ds := make([]*dashboard, 0, len(h.dashboards)+len(h.proxies))
	for d := range h.dashboards {
		ds = append(ds, d)
	}
	for _, d := range h.proxies {
		ds = append(ds, d)
	}
	h.mu.Unlock()
	for _, d := range ds {
		var local []*wire.Subscribe
		d.mu.Lock()
		for id, owner := range owners {
			sub := d.subs[id]
			if sub == nil || (!sub.isRemote && owner == "") {
				continue
			}
			if d.proxyOf != "" {
				// Its own relay follows the new owner (or is it).
				sub.stop(d)
				delete(d.subs, id)
				continue
			}
			if !sub.isRemote {
				sub = d.forwardedLocked(id, sub)
			}
			switch owner {
			case "":
				local = append(local, &wire.Subscribe{CommandID: id, Offset: sub.next})
			case unknownOwner:
				sub.remote = ""
			default:
				sub.remote, sub.resyncing = owner, true
				h.forwardSubscribeLocked(d, sub, id)
			}
		}
		d.mu.Unlock()
		for _, m := range local {
			h.subscribe(d, m)
		}
	}
}

// forwardedLocked ends a subscription this relay served and puts in its
// place one that will be forwarded, from where it got to; d.mu is held.
func (d *dashboard) forwardedLocked(id string, sub *dashboardSub) *dashboardSub {
	next := sub.next
	close(sub.stopped)
	if sub.out != nil {
		next = max(next, sub.out.detach(d))
	}
	fwd := &dashboardSub{stopped: make(chan struct{}), isRemote: true, next: next}
	d.subs[id] = fwd
	return fwd
}

// subscribeRemote follows a command another relay owns (owner, or ""
// until one is known) from offset.
func (h *Local) subscribeRemote(d *dashboard, m *wire.Subscribe, owner string) {
	sub := &dashboardSub{stopped: make(chan struct{}), isRemote: true, remote: owner, next: m.Offset, resyncing: owner != ""}
	d.mu.Lock()
	defer d.mu.Unlock()
	if old := d.subs[m.CommandID]; old != nil {
		old.stop(d)
	}
	d.subs[m.CommandID] = sub
	d.peer.SendMessage(&wire.Subscribed{CommandID: m.CommandID, Offset: m.Offset})
	if owner != "" {
		h.forwardSubscribeLocked(d, sub, m.CommandID)
	}
}

// busPeer is a dashboard of another relay as the hub writes to it: every
// message goes over the bus. It never lags here: its own relay bounds
// what it queues.
type busPeer struct {
	bus    Bus
	relay  string
	dash   string
	killed chan struct{}
	once   sync.Once
}

var roomNow = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

func (p *busPeer) SendMessage(m wire.Message) bool {
	p.bus.ToDashboard(p.relay, p.dash, transport.Text, wire.MustEncode(m))
	return true
}

func (p *busPeer) SendError(code, msg, requestID, commandID string) {
	p.SendMessage(&wire.Error{Code: code, Message: msg, RequestID: requestID, CommandID: commandID})
}

func (p *busPeer) Send(m transport.Message) bool {
	p.bus.ToDashboard(p.relay, p.dash, m.Kind, m.Data)
	if m.After != nil {
		m.After()
	}
	return true
}

// urgent marks a message its relay sends on at once (SendNow): the echo
// of keys someone is typing, which would otherwise wait up to 2 ms for
// other output to share its write.
const urgent = 0x80

func (p *busPeer) SendSoon(m transport.Message) bool { return p.Send(m) }
func (p *busPeer) SendNow(m transport.Message) bool {
	m.Kind |= urgent
	return p.Send(m)
}
func (p *busPeer) SendIfRoom(m transport.Message) (queued, closing bool) {
	return p.Send(m), false
}
func (p *busPeer) SendFree(data []byte)          { p.bus.ToDashboard(p.relay, p.dash, transport.Text, data) }
func (p *busPeer) Lagging(int) bool              { return false }
func (p *busPeer) Room() <-chan struct{}         { return roomNow }
func (p *busPeer) Killed() <-chan struct{}       { return p.killed }
func (p *busPeer) SetWhy(string)                 {}
func (p *busPeer) Remote() string                { return "relay " + p.relay }
func (p *busPeer) CloseNow(code int, why string) {}

// MarshalActor and UnmarshalActor carry an Actor between relays.
func MarshalActor(a Actor) ([]byte, error) { return json.Marshal(a) }

// UnmarshalActor is MarshalActor's inverse.
func UnmarshalActor(data []byte) (Actor, error) {
	var a Actor
	err := json.Unmarshal(data, &a)
	return a, err
}
