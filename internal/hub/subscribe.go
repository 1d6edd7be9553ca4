package hub

import (
	"errors"
	"fmt"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// Output subscriptions: a subscribe is served from the store and memory
// by a catch-up goroutine, paced by the dashboard's catch-up window, and
// then joins the command's live fan-out.

// subscribe streams a command's output from m.Offset: stored bytes first,
// read in paced frames by a goroutine of its own so that the dashboard's
// other requests (an unsubscribe among them) are not held up, then the
// memory tail and live output.
func (h *Local) subscribe(d *dashboard, m *wire.Subscribe) {
	if m.Offset < 0 {
		d.peer.SendError(wire.CodeInvalidArgument, fmt.Sprintf("offset %d is negative", m.Offset), "", m.CommandID)
		return
	}
	h.mu.Lock()
	cs := h.commands[m.CommandID]
	if cs != nil && !h.seesAgentLocked(d.who, cs.cmd.AgentID) {
		cs = nil // out of scope: as if it were not in memory, nor stored (below)
	}
	remote, owner := false, ""
	if cs != nil && cs.owner != "" {
		// Another relay's: its owner serves it; a final one whose owner
		// is gone, the store.
		owner = h.ownerLocked(d, m.CommandID)
		remote = owner != "" || !cs.cmd.State.Final()
		if !remote {
			cs = nil
		}
	}
	h.mu.Unlock()
	if remote {
		h.subscribeRemote(d, m, owner)
		return
	}
	var stored wire.Command // a command no longer in memory, looked up now so errors keep their order
	if cs == nil {
		var ok bool
		if stored, ok = h.lookupStored(d, m.CommandID); !ok {
			return
		}
		if h.bus != nil && !stored.State.Final() {
			if d.proxyOf != "" {
				return // not this relay's to serve: the dashboard's relay asks again
			}
			h.subscribeRemote(d, m, "") // its owner's word is on its way
			h.rehome([]string{m.CommandID})
			return
		}
	}
	sub := &dashboardSub{stopped: make(chan struct{}), next: m.Offset}
	d.mu.Lock()
	if old := d.subs[m.CommandID]; old != nil {
		old.stop(d)
	}
	d.subs[m.CommandID] = sub
	// Every frame of an earlier subscription is queued before this (live
	// ones stop with detach, paced ones check stopped under d.mu), and
	// every frame of this one after it.
	d.peer.SendMessage(&wire.Subscribed{CommandID: m.CommandID, Offset: m.Offset})
	d.mu.Unlock()
	d.replays.Go(func() {
		if cs == nil {
			h.streamStored(d, sub, stored, m.Offset)
			d.forget(m.CommandID, sub)
			return
		}
		h.catchUp(d, sub, cs.out, m.Offset)
	})
}

// catchUp sends output from the store, then from memory, paced by the
// dashboard's catch-up window, until it is close enough to live to attach
// the subscription to the live log.
func (h *Local) catchUp(d *dashboard, sub *dashboardSub, out *outputLog, from int64) {
	for {
		attached, stopped, memStart := d.attach(sub, out, from)
		if attached || stopped {
			return
		}
		var next int64
		var err error
		if from < memStart {
			next, err = h.sendStored(d, sub, out.id, from, memStart)
		} else {
			next, err = h.sendMemory(d, sub, out, from)
		}
		if err != nil {
			return
		}
		if next == from {
			// Nothing more to send, but the dashboard is still behind
			// on what it was sent: wait for it to read.
			select {
			case <-time.After(catchUpPoll):
			case <-d.peer.Killed():
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
func (d *dashboard) fallBehind(out *outputLog, sub *dashboardSub, from int64) {
	h := d.h
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.subs[out.id] != sub || closed(sub.stopped) {
		return // unsubscribed or replaced meanwhile
	}
	sub.out = nil
	h.metrics.fellBehind.Inc()
	d.replays.Go(func() { h.catchUp(d, sub, out, from) })
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

// Unsubscribe ends the dashboard's subscription to a command's output.
func (d *dashboard) Unsubscribe(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if sub := d.subs[id]; sub != nil {
		sub.stop(d)
		delete(d.subs, id)
		if sub.remote != "" {
			d.h.bus.Forward(sub.remote, ProxyRequest{Dash: d.id, Client: d.client, Who: d.who, Op: OpUnsubscribe,
				Data: wire.MustEncode(&wire.Unsubscribe{CommandID: id})})
		}
	}
}

// sendStored sends one frame of stored output from offset from, stopping
// before limit, and returns the offset to continue from.
func (h *Local) sendStored(d *dashboard, sub *dashboardSub, id string, from, limit int64) (int64, error) {
	data, start, err := h.store.ReadOutput(h.ctx, id, from, catchUpRead)
	if err != nil {
		d.peer.SendError(wire.CodeStorage, fmt.Sprintf("read stored output: %v", err), "", id)
		return 0, err
	}
	if len(data) == 0 || start >= limit {
		return limit, nil // nothing stored before limit: memory serves the rest
	}
	if end := start + int64(len(data)); end > limit {
		data = data[:limit-start]
	}
	if err := d.sendPaced(sub, wire.OutputFrame(id, start, data), start+int64(len(data))); err != nil {
		return 0, err
	}
	return start + int64(len(data)), nil
}

// sendPaced queues a catch-up frame, ending at offset end, once fewer than
// catchUpWindow are in flight, so a catch-up never runs ahead of what
// the dashboard reads.
func (d *dashboard) sendPaced(sub *dashboardSub, frame []byte, end int64) error {
	select {
	case d.catchUp <- struct{}{}:
	case <-d.peer.Killed():
		return errConnClosed
	case <-sub.stopped:
		return errUnsubscribed
	}
	err := d.queuePaced(sub, transport.Message{Kind: transport.Binary, Data: frame, After: d.released}, end)
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
func (d *dashboard) queuePaced(sub *dashboardSub, m transport.Message, end int64) error {
	for {
		d.mu.Lock()
		if closed(sub.stopped) {
			d.mu.Unlock()
			return errUnsubscribed
		}
		queued, closing := d.peer.SendIfRoom(m)
		if queued {
			sub.next = end
		}
		d.mu.Unlock()
		switch {
		case queued:
			return nil
		case closing:
			return errConnClosed
		}
		select {
		case <-d.peer.Room():
		case <-d.peer.Killed():
			return errConnClosed
		case <-sub.stopped:
			return errUnsubscribed
		}
	}
}

// sendMemory sends one frame of output held in memory from offset from,
// and returns the offset to continue from.
func (h *Local) sendMemory(d *dashboard, sub *dashboardSub, out *outputLog, from int64) (int64, error) {
	data, start := out.readMem(from, catchUpRead)
	if len(data) == 0 {
		return from, nil // trimmed meanwhile: attach sends it to the store
	}
	if err := d.sendPaced(sub, wire.OutputFrame(out.id, start, data), start+int64(len(data))); err != nil {
		return 0, err
	}
	return start + int64(len(data)), nil
}

// lookupStored finds a command that is no longer in memory, answering
// the dashboard when there is none.
func (h *Local) lookupStored(d *dashboard, id string) (wire.Command, bool) {
	q := store.HistoryQuery{ID: id, Limit: 1}
	h.mu.Lock()
	q.AgentIDs = h.seenAgentIDsLocked(d.who)
	h.mu.Unlock()
	cmds, err := h.store.History(h.ctx, q)
	if errors.Is(err, store.ErrNotFound) {
		cmds, err = nil, nil
	}
	if err != nil {
		d.peer.SendError(wire.CodeStorage, fmt.Sprintf("look up command: %v", err), "", id)
		return wire.Command{}, false
	}
	if len(cmds) == 0 {
		d.peer.SendError(wire.CodeNotFound, fmt.Sprintf("no command %q", id), "", id)
		return wire.Command{}, false
	}
	return cmds[0], true
}

// streamStored serves a command that is no longer in memory, from the store.
func (h *Local) streamStored(d *dashboard, sub *dashboardSub, c wire.Command, from int64) {
	end := c.OutputBytes
	for from < end {
		next, err := h.sendStored(d, sub, c.ID, from, end)
		if err != nil {
			return
		}
		from = next
	}
	d.peer.SendMessage(&wire.OutputEnd{CommandID: c.ID, Offset: end})
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
