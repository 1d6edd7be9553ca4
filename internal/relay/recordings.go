package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// Recordings: what dashboards read of past commands besides their output
// (timing, the asciicast export). Requests are served on the dashboard's
// reader, as history is, each bounded in time and size.

// Bounds of one timing.result.
const (
	maxTimingEvents = 20000
	maxTimingInput  = 256 << 10
	readTimeout     = 10 * time.Second
)

// errHidden is a command a principal may not see: answered as not found,
// so a scoped token learns nothing of other agents' commands.
var errHidden = errors.New("not visible to this token")

// command finds a command in memory or in the store, as who may see it.
// A command that has just ended is returned once its end is stored, so
// that what the store holds of it is all there is.
func (r *Relay) command(ctx context.Context, who principal, id string) (wire.Command, error) {
	c, err := r.hub.Command(ctx, id)
	if err != nil {
		return c, err
	}
	if !r.mayWatchAgent(who, c.AgentID) {
		return c, errHidden
	}
	return c, nil
}

// mayWatchAgent reports whether who may see an agent's commands and
// output. Every token may, until tokens are scoped to agents: this is the
// one place a scope applies to what recordings, exports and searches
// show.
func (r *Relay) mayWatchAgent(who principal, agentID string) bool {
	return true
}

// sendLookupError answers a failed command lookup.
func sendLookupError(d *dashboardSession, err error, requestID, id string) {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, errHidden) {
		d.conn.SendError(wire.CodeNotFound, fmt.Sprintf("no command %q", id), requestID, id)
		return
	}
	d.conn.SendError(wire.CodeStorage, fmt.Sprintf("find command %s: %v", id, err), requestID, id)
}

// timingQuery answers a dashboard's timing request.
func (r *Relay) timingQuery(d *dashboardSession, m *wire.TimingQuery) {
	if m.From < 0 {
		d.conn.SendError(wire.CodeInvalidArgument, fmt.Sprintf("from %d is negative", m.From), m.RequestID, m.CommandID)
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, readTimeout)
	defer cancel()
	if _, err := r.command(ctx, d.who, m.CommandID); err != nil {
		sendLookupError(d, err, m.RequestID, m.CommandID)
		return
	}
	res, err := r.readTiming(ctx, m.CommandID, uint64(m.From))
	if err != nil {
		d.conn.SendError(wire.CodeStorage, err.Error(), m.RequestID, m.CommandID)
		return
	}
	res.RequestID = m.RequestID
	d.conn.SendMessage(res)
}

// readTiming reads a command's timing events from record from on, as
// much as one timing.result holds.
func (r *Relay) readTiming(ctx context.Context, id string, from uint64) (*wire.TimingResult, error) {
	res := &wire.TimingResult{CommandID: id, Events: []wire.TimingEvent{}}
	input := 0
	for {
		rows, err := r.store.ReadTiming(ctx, id, from, store.TimingPage)
		if err != nil || len(rows) == 0 {
			return res, err
		}
		full := false
		next, err := store.EachRecord(rows, from, func(rec wire.TimingRecord) bool {
			if len(res.Events) == maxTimingEvents || (len(rec.Data) > 0 && input+len(rec.Data) > maxTimingInput && input > 0) {
				full = true
				return false
			}
			input += len(rec.Data)
			ev := rec.Event()
			ev.Data = append([]byte(nil), ev.Data...) // rows' buffers are not ours to keep
			res.Events = append(res.Events, ev)
			return true
		})
		if err != nil {
			return res, err
		}
		if full {
			res.More, res.Next = true, int64(next)
			return res, nil
		}
		if next == from {
			return res, nil
		}
		from = next
	}
}
