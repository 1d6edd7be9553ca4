package hub

import (
	"sync"
	"sync/atomic"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// memChunk is output held in memory: raw is the output frame exactly as it
// arrived (so fan-out forwards it untouched), data the payload within it.
type memChunk struct {
	offset int64
	raw    []byte
	data   []byte
}

func (c memChunk) end() int64 { return c.offset + int64(len(c.data)) }

// subscription is one dashboard following one command's output. next is
// the offset of the first byte the dashboard still needs.
type subscription struct {
	d     *dashboard
	owner *dashboardSub // the dashboard's record of it
	next  int64
}

// attachWithin bounds the output a catch-up sends at once when it joins
// the live fan-out; more than that it sends paced, a frame at a time.
const attachWithin = 1 << 20

// outputLog is one command's output as the relay holds it: the recent tail
// in memory, and everything not yet stored, plus the dashboards following
// it. Every byte has one offset; the log never holds a byte twice.
//
// It has its own lock so that the output hot path never takes the relay's
// state lock. Lock order: doc.go.
type outputLog struct {
	id      string
	tailCap int          // bytes of stored output worth keeping in memory
	typedAt atomic.Int64 // when a dashboard last typed into the command, Unix ns

	mu       sync.Mutex
	received int64 // end of the output received so far
	stored   int64 // end of the output durably stored
	chunks   []memChunk
	memBytes int
	subs     map[*dashboard]*subscription
	ended    bool      // the command is final; no output follows endAt
	endAt    int64     // with ended: the final offset
	exitAt   int64     // an exit report is waiting for output up to here; -1 when none
	settled  int       // chunks before this index are compacted for good
	tm       timingBuf // timing not yet taken by the persister (timing.go)

	persisted logMark // the persister's bookkeeping of this log (persist.go)
}

func newOutputLog(id string, stored int64, tailCap int) *outputLog {
	return &outputLog{id: id, tailCap: tailCap, received: stored, stored: stored, persisted: logMark{taken: stored}, exitAt: -1,
		subs: make(map[*dashboard]*subscription)}
}

// appendFrame adds an output frame from the agent and fans it out. It
// returns how many bytes the frame skips past the output so far (bytes
// the agent lost without reporting them, which the caller counts as
// lost), whether a pending exit is now complete, and the subscriptions it
// took out of the fan-out because their dashboards fell behind: the
// caller moves them to a catch-up (dashboard.fallBehind), which takes
// locks this one may not.
func (o *outputLog) appendFrame(f wire.Frame, raw []byte, p *persister) (gap int64, exitReady bool, behind []*subscription) {
	o.mu.Lock()
	if o.ended || f.End() <= o.received {
		o.mu.Unlock()
		return 0, false, nil // a resend of what we already have
	}
	gap = max(f.Offset-o.received, 0)
	if f.Offset < o.received {
		// Partly a resend: keep only the new tail.
		f.Data = f.Data[o.received-f.Offset:]
		f.Offset = o.received
		raw = wire.OutputFrame(o.id, f.Offset, f.Data)
	}
	c := memChunk{offset: f.Offset, raw: raw, data: f.Data}
	o.chunks = append(o.chunks, c)
	o.memBytes += len(c.data)
	o.received = c.end()
	watch := p.noteOutput(o, len(c.data))
	for d, s := range o.subs {
		if !o.deliver(s, c) {
			delete(o.subs, d)
			behind = append(behind, s)
		}
	}
	o.trim()
	exitReady = o.exitAt >= 0 && o.received >= o.exitAt
	o.mu.Unlock()
	if watch {
		p.watch(o) // after o.mu: the persister takes its lock before a log's
	}
	return gap, exitReady, behind
}

// interactiveFor is how long after a keystroke a command's output counts
// as its echo, which a person is waiting to see.
const interactiveFor = 2 * time.Second

// typed records that a dashboard typed into the command.
func (o *outputLog) typed(now time.Time) { o.typedAt.Store(now.UnixNano()) }

// interactive reports whether someone typed into the command lately.
func (o *outputLog) interactive() bool {
	return time.Now().UnixNano()-o.typedAt.Load() < int64(interactiveFor)
}

// deliver sends the part of c that s still needs. The output of a command
// someone is typing into takes the connection's fast path (enqueueNow);
// other output is left to the writer goroutines, which under load send
// many messages with each write. It reports false, sending nothing, when
// the dashboard has fallen too far behind to be sent more live output.
func (o *outputLog) deliver(s *subscription, c memChunk) bool {
	if c.end() <= s.next {
		return true
	}
	if s.d.peer.Lagging(len(c.raw)) {
		return false
	}
	raw := c.raw
	if c.offset < s.next {
		raw = wire.OutputFrame(o.id, s.next, c.data[s.next-c.offset:])
	}
	s.next = c.end()
	m := transport.Message{Kind: transport.Binary, Data: raw}
	if o.interactive() {
		s.d.peer.SendNow(m)
	} else {
		s.d.peer.SendSoon(m)
	}
	return true
}

// trim forgets the oldest chunks beyond tailCap, but never one that is not
// yet stored: memory is the only copy of those.
func (o *outputLog) trim() {
	n := 0
	for n < len(o.chunks)-1 && o.memBytes > o.tailCap && o.chunks[n].end() <= o.stored {
		o.memBytes -= len(o.chunks[n].data)
		n++
	}
	if n > 0 {
		clear(o.chunks[:n])
		o.chunks = o.chunks[n:]
		o.settled = max(0, o.settled-n)
	}
}

// markStored records that output up to end is durably stored, as rows
// (which may be nil).
func (o *outputLog) markStored(end int64, rows []store.Chunk) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if end > o.stored {
		o.stored = end
		if o.ended && o.stored >= o.received {
			o.release()
			return
		}
		o.adopt(rows)
		o.trim()
		o.compact()
	}
}

// adopt replaces each run of unsettled chunks that a stored row covers
// exactly with the row's buffer. The persister already copied those bytes
// into one buffer for the store, which is done with it; keeping it spares
// compact copying them all again. A row that does not line up with the
// chunks (none should) is left to compact.
func (o *outputLog) adopt(rows []store.Chunk) {
	kept := o.chunks[:o.settled]
	rest := o.chunks[o.settled:]
	for i := 0; i < len(rest); {
		for len(rows) > 0 && rows[0].Offset < rest[i].offset {
			rows = rows[1:]
		}
		if len(rows) > 0 && rows[0].Offset == rest[i].offset {
			row := rows[0]
			end := row.Offset + int64(len(row.Data))
			j := i + 1
			for j < len(rest) && rest[j-1].end() < end && rest[j].offset == rest[j-1].end() {
				j++
			}
			if rest[j-1].end() == end && end <= o.stored {
				kept = append(kept, memChunk{offset: row.Offset, data: row.Data})
				rows = rows[1:]
				i = j
				continue
			}
		}
		kept = append(kept, rest[i])
		i++
	}
	clear(o.chunks[len(kept):])
	o.chunks = kept
}

// Compaction bounds: merged chunks hold up to compactTo bytes, and start
// with room for at least compactRoom.
const (
	compactTo   = 64 << 10
	compactRoom = 8 << 10
)

// compact merges runs of small stored chunks into chunks of up to
// compactTo bytes (what adopt has not already replaced). A command that
// writes a line at a time otherwise keeps one chunk, and the whole frame
// it came in, per line: with many such streams, millions of small objects
// for the garbage collector to scan. A merged
// chunk has no frame (raw is nil) and owns its buffer, so later merges
// append to it; only the newest chunk is ever sent as a frame (deliver),
// and readers copy from the others. A lone small chunk is left as it is.
func (o *outputLog) compact() {
	kept := o.chunks[:o.settled]
	rest := o.chunks[o.settled:]
	// A chunk of compactRoom or more (a large frame, an adopted row) is
	// worth its own object; copying it into another saves nothing.
	mergeable := func(c memChunk) bool { return c.end() <= o.stored && len(c.data) < compactRoom }
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if n := len(kept); n > 0 && mergeable(c) {
			last := &kept[n-1]
			if last.raw == nil && last.end() == c.offset && len(last.data)+len(c.data) <= compactTo {
				last.data = append(last.data, c.data...)
				continue
			}
		}
		if mergeable(c) && c.raw != nil && i+1 < len(rest) && mergeable(rest[i+1]) && rest[i+1].offset == c.end() {
			room := min(compactTo, max(compactRoom, 2*(len(c.data)+len(rest[i+1].data))))
			c = memChunk{offset: c.offset, data: append(make([]byte, 0, room), c.data...)}
		}
		kept = append(kept, c)
	}
	clear(o.chunks[len(kept):])
	o.chunks = kept
	// Only the last stored chunk may still grow; those before it are done.
	for o.settled < len(kept)-1 && kept[o.settled+1].end() <= o.stored {
		o.settled++
	}
}

// memStart is the first offset memory can serve; a subscriber needing
// bytes before it reads them from the store.
func (o *outputLog) memStartLocked() int64 {
	if len(o.chunks) == 0 {
		return o.received
	}
	return o.chunks[0].offset
}

// attach subscribes d from offset if memory can serve everything from
// there, it is at most attachWithin, and d is not behind, sending that
// backlog in coalesced frames. Otherwise it reports false, and the offset
// memory starts at: the caller sends what comes before, paced, from the
// store (before memStart) or from memory (readMem), or waits for d.
func (o *outputLog) attach(d *dashboard, owner *dashboardSub, from int64) (ok bool, memStart int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	memStart = o.memStartLocked()
	if from < memStart && from < o.stored {
		return false, memStart
	}
	if o.received-from > attachWithin || d.peer.Lagging(int(o.received-from)) {
		return false, memStart
	}
	s := &subscription{d: d, owner: owner, next: from}
	o.sendBacklog(s)
	if o.ended && s.next >= o.endAt {
		d.peer.SendMessage(&wire.OutputEnd{CommandID: o.id, Offset: o.received})
		return true, memStart
	}
	o.subs[d] = s
	return true, memStart
}

// sendBacklog sends the memory tail from s.next, merging contiguous chunks
// into frames of up to wire.MaxChunk so a long tail of small writes does
// not flood the queue with tiny messages.
func (o *outputLog) sendBacklog(s *subscription) {
	var buf []byte
	start := int64(-1)
	flush := func() {
		if len(buf) > 0 {
			s.d.peer.Send(transport.Message{Kind: transport.Binary, Data: wire.OutputFrame(o.id, start, buf)})
		}
		buf, start = nil, -1
	}
	for _, c := range o.chunks {
		if c.end() <= s.next {
			continue
		}
		data, off := c.data, c.offset
		if off < s.next {
			data, off = data[s.next-off:], s.next
		}
		if start >= 0 && (start+int64(len(buf)) != off || len(buf)+len(data) > wire.MaxChunk) {
			flush()
		}
		if start < 0 {
			start = off
		}
		buf = append(buf, data...)
		s.next = off + int64(len(data))
	}
	flush()
}

// readMem copies up to limit bytes of output held in memory, from the
// first held byte at or after from; it returns them and their offset,
// or nothing if memory no longer holds output at from.
func (o *outputLog) readMem(from int64, limit int) ([]byte, int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if from < o.memStartLocked() {
		return nil, from
	}
	var buf []byte
	start := int64(-1)
	for _, c := range o.chunks {
		if c.end() <= from {
			continue
		}
		data, off := c.data, c.offset
		if off < from {
			data, off = data[from-off:], from
		}
		if start >= 0 && start+int64(len(buf)) != off {
			break // a range the agent lost: the next read starts after it
		}
		if start < 0 {
			start = off
		}
		data = data[:min(len(data), limit-len(buf))]
		buf = append(buf, data...)
		if len(buf) >= limit {
			break
		}
	}
	if start < 0 {
		return nil, from
	}
	return buf, start
}

// detach ends d's subscription, if any, returning the offset it needed
// next (-1 if none).
func (o *outputLog) detach(d *dashboard) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	next := int64(-1)
	if s := o.subs[d]; s != nil {
		next = s.next
	}
	delete(o.subs, d)
	return next
}

// expectExit records that the agent reported the command's end at offset;
// it reports whether all output up to there has arrived.
func (o *outputLog) expectExit(offset int64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.exitAt = offset
	return o.received >= offset
}

// skipOver records that the agent lost bytes [from, to): when nothing
// after from has arrived yet, the next output starts at to.
func (o *outputLog) skipOver(from, to int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.received >= from && to > o.received {
		o.received = to
	}
}

// release forgets the output held in memory of a command that is over
// and stored: subscribers read it from the store, and a recent command
// costs the relay nothing for its output.
func (o *outputLog) release() {
	clear(o.chunks)
	o.chunks, o.memBytes, o.settled = nil, 0, 0
}

// isEnded reports whether the command is over (finish was called).
func (o *outputLog) isEnded() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ended
}

// finish marks the output complete and tells every subscriber.
func (o *outputLog) finish() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ended, o.endAt = true, o.received
	if o.stored >= o.received {
		o.release()
	}
	for d := range o.subs {
		d.peer.SendMessage(&wire.OutputEnd{CommandID: o.id, Offset: o.received})
	}
	clear(o.subs)
}

// ends returns the end of the output received so far and of the output
// stored.
func (o *outputLog) ends() (received, stored int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.received, o.stored
}

// size returns the end of the output received so far.
func (o *outputLog) size() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.received
}
