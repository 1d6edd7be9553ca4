package hub

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// Several relays (Config.Bus): each relay drives the agents connected to
// it and the commands it owns, as one relay does, and keeps a copy of
// everyone else's from the shared log of events. Ownership: a command
// is owned by the relay that published its last event (cs.owner "" here);
// a command created for an agent held elsewhere is handed to that relay
// once stored (Handoff); an agent that connects here takes over the
// commands it holds from their owner (Release, else the store's end).

// Bounds of the requests between relays.
const (
	handoffWait = 5 * time.Second // a hand-off's answer
	releaseWait = 3 * time.Second // a release's answer; its owner's storing of what it holds
	readyWait   = 10 * time.Second
)

// publishLocked hands an event to the bus; it comes back numbered
// (ApplyEvent), which is when dashboards here see it too.
func (h *Local) publishLocked(agentID, kind, subject string, data []byte) {
	ev := BusEvent{Kind: kind, Subject: subject, AgentID: agentID, Data: data}
	if cs := h.commands[subject]; cs != nil && kind == wire.TypeCommandEvent {
		ev.Epoch = cs.epoch
	}
	if kind == wire.TypeAgentEvent {
		if a := h.agents[agentID]; a != nil && a.conn != nil {
			ev.Holder = h.me
		} else {
			ev.Was = h.me
		}
	}
	h.bus.Publish(ev)
}

// awaitReady holds a session back until the log before this relay's
// start is applied, so that it meets the cluster's state, not the store's.
func (h *Local) awaitReady() {
	select {
	case <-h.ready:
	case <-time.After(readyWait):
	case <-h.ctx.Done():
	}
}

// Replayed implements Member.
func (h *Local) Replayed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.ready:
	default:
		close(h.ready)
		h.log.Info("cluster log applied", "event_seq", h.seq)
	}
}

// ApplyEvent implements Member: it numbers the event, sends it to this
// relay's dashboards, stores it if it is this relay's, and updates the
// copy of what other relays drive.
func (h *Local) ApplyEvent(seq uint64, origin string, ev BusEvent, replay bool) {
	m, err := wire.Decode(ev.Data)
	if err != nil {
		h.log.Error("cluster event undecodable", "seq", seq, "origin", origin, "err", err)
		return
	}
	switch m := m.(type) {
	case *wire.AgentEvent:
		m.Seq = seq
	case *wire.CommandEvent:
		m.Seq = seq
	case *wire.AgentRemoved:
		m.Seq = seq
	default:
		h.log.Error("cluster event of unknown kind", "seq", seq, "kind", ev.Kind)
		return
	}
	data := wire.MustEncode(m)
	mine := origin == h.me && !replay
	if origin == h.me && replay {
		origin = unknownOwner // this relay's earlier life: it holds none of that now
	}
	h.mu.Lock()
	var moved []string
	if !mine {
		moved = h.mirrorLocked(origin, m, ev)
	}
	h.seq = max(h.seq, seq)
	for d := range h.dashboards {
		if d.who.Scope == nil || h.seesAgentLocked(d.who, ev.AgentID) {
			d.peer.Send(transport.Message{Kind: transport.Text, Data: data})
		}
	}
	if mine {
		h.persist.addEvent(store.Event{Seq: seq, At: time.Now().UTC(), Kind: ev.Kind, Subject: ev.Subject, Data: data})
	}
	h.mu.Unlock()
	h.rehome(moved)
}

// mirrorLocked applies another relay's event to the copy; it returns the
// commands whose owner changed.
func (h *Local) mirrorLocked(origin string, m wire.Message, ev BusEvent) (moved []string) {
	switch m := m.(type) {
	case *wire.AgentEvent:
		return h.mirrorAgentLocked(m.Agent, ev)
	case *wire.AgentRemoved:
		if a := h.agents[m.AgentID]; a != nil && a.conn == nil {
			delete(h.agents, m.AgentID)
		}
	case *wire.CommandEvent:
		return h.mirrorCommandLocked(origin, m.Command, ev.Epoch)
	}
	return nil
}

func (h *Local) mirrorAgentLocked(info wire.Agent, ev BusEvent) (moved []string) {
	a := h.agents[info.ID]
	if a == nil {
		a = &agentState{live: make(map[string]*commandState), offlineSince: time.Now()}
		h.agents[info.ID] = a
	}
	if ev.Holder == "" {
		// Offline where it was: only if that relay is the one that had it
		// (a late word from a relay it left is not news).
		if a.conn != nil || (a.holder != "" && a.holder != ev.Was && a.holder != unknownOwner) {
			return nil
		}
		a.holder, a.info, a.offlineSince = "", info, time.Now()
		return nil
	}
	if a.conn != nil {
		// It connected to another relay since: that connection is the newer.
		a.conn.peer.SetWhy("moved")
		a.conn.peer.CloseNow(wire.CloseReplaced, "the agent connected to another relay")
		a.conn = nil
		for id, cs := range a.live {
			if cs.owner == "" && cs.cmd.State == wire.StateRunning {
				cs.owner = ev.Holder
				moved = append(moved, id)
			}
		}
	}
	a.holder, a.info = ev.Holder, info
	h.dispatchLocked(a) // hands it what is queued here for it
	return moved
}

func (h *Local) mirrorCommandLocked(origin string, c wire.Command, epoch uint64) (moved []string) {
	a := h.agents[c.AgentID]
	cs := h.commands[c.ID]
	if cs != nil && epoch < cs.epoch {
		return nil // from before its last change of owner
	}
	if cs == nil {
		cs = h.newCommandState(c)
		cs.owner, cs.stored, cs.epoch = origin, true, epoch
		if c.State.Final() {
			h.addRecent(cs)
			return nil
		}
		h.commands[c.ID] = cs
		if a != nil {
			a.live[c.ID] = cs
		}
		return []string{c.ID} // someone may wait for its owner (subscribeRemote)
	}
	wasFinal := cs.cmd.State.Final()
	if cs.owner != origin {
		moved = append(moved, c.ID)
	}
	env := cs.cmd.Env
	cs.cmd, cs.owner, cs.dispatched, cs.epoch = c, origin, false, epoch
	if cs.cmd.Env == nil {
		cs.cmd.Env = env
	}
	if a != nil {
		a.unqueue(cs)
	}
	if c.State.Final() && !wasFinal {
		if a != nil {
			delete(a.live, c.ID)
		}
		cs.out.finish()
		h.finalStoredLocked(c.ID) // its owner stores it
		h.addRecent(cs)
	}
	return moved
}

// handOffLocked offers the commands queued here for an agent held by
// another relay to that relay, once each is stored.
func (h *Local) handOffLocked(a *agentState) {
	if !h.bus.Alive(a.holder) {
		return // its agents are published offline (RelayGone), or come here
	}
	for _, cs := range a.queue {
		if cs.owner != "" || !cs.stored || cs.handingOff || cs.cmd.State != wire.StateQueued {
			continue
		}
		cs.handingOff = true
		to, c, epoch := a.holder, cs.cmd, cs.epoch
		h.handoffs.Go(func() { h.handOff(cs, to, c, epoch) })
	}
}

func (h *Local) handOff(cs *commandState, to string, c wire.Command, epoch uint64) {
	ctx, cancel := context.WithTimeout(h.ctx, handoffWait)
	err := h.bus.Handoff(ctx, to, c, epoch)
	cancel()
	h.mu.Lock()
	defer h.mu.Unlock()
	cs.handingOff = false
	if err != nil {
		h.log.Warn("hand-off failed; retrying later", "command_id", c.ID, "relay", to, "err", err)
		return
	}
	if a := h.agents[c.AgentID]; a != nil {
		a.unqueue(cs)
	}
	if cs.owner == "" {
		cs.owner, cs.epoch = to, max(cs.epoch, epoch+1)
		h.handoffs.Go(func() { h.rehome([]string{c.ID}) })
	}
}

// Adopt implements Member: a queued command for an agent connected here,
// from the relay where it was asked for. Adopting one twice is harmless.
func (h *Local) Adopt(c wire.Command, epoch uint64) error {
	err := h.adopt(c, epoch)
	if err == nil {
		h.rehome([]string{c.ID}) // dashboards here that followed it elsewhere
	}
	return err
}

func (h *Local) adopt(c wire.Command, epoch uint64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[c.AgentID]
	if a == nil || a.conn == nil {
		return ErrNotHere
	}
	if c.State != wire.StateQueued {
		return fmt.Errorf("command %s is %s, not queued", c.ID, c.State)
	}
	cs := h.commands[c.ID]
	if cs != nil && cs.owner == "" {
		return nil
	}
	if cs == nil {
		cs = h.newCommandState(c)
		h.commands[c.ID] = cs
	}
	cs.cmd, cs.owner, cs.stored, cs.dispatched = c, "", true, false
	cs.epoch = max(cs.epoch, epoch+1)
	a.live[c.ID] = cs
	if !slices.Contains(a.queue, cs) {
		a.queue = append(a.queue, cs)
	}
	h.dispatchLocked(a)
	return nil
}

// ReleaseAgent implements Member: an agent of this relay's connected to
// relay to; its running commands become to's once what this relay
// received of their output is stored. It answers where each one's stored
// output ends.
func (h *Local) ReleaseAgent(agentID, to string) map[string]int64 {
	logs := make(map[string]*outputLog)
	h.mu.Lock()
	if a := h.agents[agentID]; a != nil {
		if a.conn != nil {
			a.conn.peer.SetWhy("moved")
			a.conn.peer.CloseNow(wire.CloseReplaced, "the agent connected to another relay")
			a.conn = nil
		}
		a.holder = to
		for id, cs := range a.live {
			if cs.owner == "" && cs.cmd.State == wire.StateRunning {
				cs.owner = to
				logs[id] = cs.out
			}
		}
	}
	h.mu.Unlock()
	h.rehome(slices.Collect(maps.Keys(logs)))
	deadline := time.Now().Add(releaseWait)
	ends := make(map[string]int64, len(logs))
	for id, l := range logs {
		for {
			received, stored := l.ends()
			if stored >= received || time.Now().After(deadline) {
				ends[id] = stored
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return ends
}

// takeOver makes this relay the owner of what a joining agent holds, and
// of the commands queued for it that no live relay owns: a command's
// output resumes from where its previous owner stored it.
func (h *Local) takeOver(hello *wire.Hello) {
	agentID := hello.Agent.ID
	held := make(map[string]string) // command id → its owner
	h.mu.Lock()
	for _, hc := range hello.Holding {
		cs := h.commands[hc.CommandID]
		switch {
		case cs == nil:
			held[hc.CommandID] = unknownOwner
		case cs.owner != "" && cs.cmd.AgentID == agentID:
			held[hc.CommandID] = cs.owner
		}
	}
	if a := h.agents[agentID]; a != nil {
		for _, cs := range a.live {
			if cs.owner != "" && cs.cmd.State == wire.StateQueued && !h.bus.Alive(cs.owner) {
				cs.owner, cs.stored = "", true
				if !slices.Contains(a.queue, cs) {
					a.queue = append(a.queue, cs)
				}
			}
		}
	}
	h.mu.Unlock()
	if len(held) == 0 {
		return
	}
	ends := make(map[string]int64)
	asked := make(map[string]bool)
	for _, owner := range held {
		if owner == unknownOwner || owner == h.me || asked[owner] || !h.bus.Alive(owner) {
			continue
		}
		asked[owner] = true
		ctx, cancel := context.WithTimeout(h.ctx, releaseWait+time.Second)
		got, err := h.bus.Release(ctx, owner, agentID)
		cancel()
		if err != nil {
			h.log.Warn("release failed; resuming from the store", "relay", owner, "agent_id", agentID, "err", err)
		}
		for id, end := range got {
			ends[id] = end
		}
	}
	ids := make([]string, 0, len(held))
	for id := range held {
		h.claim(id, agentID, ends[id])
		ids = append(ids, id)
	}
	h.rehome(ids)
}

// claim makes a command this relay's, its output resuming at the end of
// what is stored (or at least at end, what its owner said it stored).
func (h *Local) claim(id, agentID string, end int64) {
	cmds, err := h.store.History(h.ctx, store.HistoryQuery{ID: id, Limit: 1})
	if err != nil || len(cmds) == 0 || cmds[0].AgentID != agentID {
		return // unknown here: the agent is told to drop it, as on one relay
	}
	if oe, ok := h.store.(store.OutputEnds); ok {
		if e, err := oe.OutputEnd(h.ctx, id); err == nil {
			end = max(end, e)
		} else {
			h.log.Warn("read stored output end", "command_id", id, "err", err)
		}
	}
	c := cmds[0]
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.commands[id]
	if cs != nil && cs.owner == "" {
		return
	}
	if cs != nil && !cs.cmd.State.Final() && cs.cmd.State != wire.StateQueued {
		c = cs.cmd // the log's copy is newer; a queued one's env is the store's alone
	}
	if c.State.Final() {
		return
	}
	c.OutputBytes = end
	fresh := h.newCommandState(c)
	fresh.stored = true
	if cs != nil {
		fresh.epoch = cs.epoch + 1
	}
	h.commands[id] = fresh
	if a := h.agents[agentID]; a != nil {
		a.live[id] = fresh
		if cs != nil {
			a.unqueue(cs)
		}
		if c.State == wire.StateQueued {
			a.queue = append(a.queue, fresh)
			h.dispatchLocked(a)
		}
	}
	h.commandChangedLocked(fresh) // every relay learns its new owner now
	h.log.Info("command taken over", "command_id", id, "agent_id", agentID, "resume", end)
}

// RelayGone implements Member: the dashboards that relay proxied here
// are gone with it; and the first live relay (Bus.Leader) takes over what
// it drove: its agents are published offline, and its commands become
// this relay's: queued ones are dispatched or handed on, running ones are
// lost after --lost-after unless their agent connects again (and takes
// them over from here).
func (h *Local) RelayGone(relay string) {
	h.mu.Lock()
	var gone []*dashboard
	for key, pd := range h.proxies {
		if pd.proxyOf == relay {
			gone = append(gone, pd)
			delete(h.proxies, key)
		}
	}
	type orphan struct{ id, agentID string }
	var orphans []orphan
	if h.bus.Leader() {
		for _, a := range h.agents {
			if a.holder == relay && a.conn == nil {
				a.info.Status, a.info.Running = wire.AgentOffline, 0
				a.holder, a.offlineSince = "", time.Now() // as the others do when it comes back to them
				info := a.info
				h.bus.Publish(BusEvent{Kind: wire.TypeAgentEvent, Subject: info.ID, AgentID: info.ID, Was: relay,
					Data: wire.MustEncode(&wire.AgentEvent{Agent: info})})
			}
		}
		for id, cs := range h.commands {
			if cs.owner == relay && !cs.cmd.State.Final() {
				orphans = append(orphans, orphan{id, cs.cmd.AgentID})
			}
		}
	}
	h.mu.Unlock()
	for _, pd := range gone {
		pd.proxyEnd()
	}
	for _, o := range orphans {
		h.claim(o.id, o.agentID, 0)
	}
	if len(orphans) > 0 {
		h.log.Info("took over a silent relay's commands", "relay", relay, "commands", len(orphans))
	}
}
