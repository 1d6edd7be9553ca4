package hub

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// maxChunkRow is the largest run of one command's output merged into one
// stored row: small writes cost one row per commit instead of one each.
const maxChunkRow = 64 << 10

// Commit pacing. While only output is waiting, a commit begins at least
// minCommitGap after the previous one began, unless commitBytes of output
// are due. Anything else (a command, agent, event or audit entry) is
// committed without waiting: a new command starts only once stored. An
// idle relay commits at once: the gap only holds back a commit that
// follows another closely.
const (
	minCommitGap = 200 * time.Millisecond
	commitBytes  = 8 << 20
)

// When a command's output is due. A row costs about the same however
// little it holds (SQLite rewrites an index page for each, and its agent
// gets an ack), so a command's output waits until it fills a row of
// rowTarget bytes or its oldest byte is maxUnstoredAge old: with many
// slow streams, far fewer rows and acks than storing every stream in
// every commit (docs/benchmarks.md). Waiting loses nothing: the output
// log keeps unstored bytes in memory for readers, and the agent keeps
// them until acknowledged, resending them to a restarted relay. Each
// stream's limits are drawn between half and all of these, afresh after
// each row, so streams that began together do not stay in step and make
// every commit either empty or enormous.
const (
	rowTarget      = 16 << 10
	maxUnstoredAge = 2 * time.Second
)

// logMark is the persister's bookkeeping of one output log: what it
// took and when the rest is due. It lives in the log, guarded by
// outputLog.mu, so that an output frame costs the persister no lock of its
// own; only this file reads or writes it.
type logMark struct {
	taken    int64     // end of the output handed to the persister
	waiting  bool      // output past taken; the persister watches the log
	target   int       // bytes past taken at which the output is due
	dueAt    time.Time // when it is due however little there is
	dueAdded int       // bytes past taken counted in persister.dueBytes; > 0 once over target
}

// takeLocked hands the output past taken (logMark) to the persister as rows for
// the store: runs of contiguous chunks merged up to maxChunkRow, a large
// chunk as it is. The chunks stay in memory until stored.
func (o *outputLog) takeLocked() []store.Chunk {
	m := &o.persisted
	i := len(o.chunks)
	for i > 0 && o.chunks[i-1].end() > m.taken {
		i--
	}
	var rows []store.Chunk
	for _, c := range o.chunks[i:] {
		if n := len(rows); n > 0 {
			r := &rows[n-1]
			if r.Offset+int64(len(r.Data)) == c.offset && cap(r.Data)-len(r.Data) >= len(c.data) {
				r.Data = append(r.Data, c.data...)
				continue
			}
		}
		if len(c.data) >= maxChunkRow/4 {
			// Kept as it is, capped so that nothing appends into the frame.
			rows = append(rows, store.Chunk{CommandID: o.id, Offset: c.offset, Data: c.data[:len(c.data):len(c.data)]})
			continue
		}
		room := int(min(int64(maxChunkRow), o.received-c.offset))
		rows = append(rows, store.Chunk{CommandID: o.id, Offset: c.offset, Data: append(make([]byte, 0, room), c.data...)})
	}
	if len(o.chunks) > 0 {
		m.taken = max(m.taken, o.chunks[len(o.chunks)-1].end())
	}
	return rows
}

// stored reports what one committed batch made durable.
type stored struct {
	output   map[string]storedOutput // by command id
	commands []string                // ids of the commands whose state is stored
	final    []wire.Command          // commands whose final state is stored
}

// storedOutput is one command's output in a committed batch.
type storedOutput struct {
	end  int64         // end of its stored output
	rows []store.Chunk // the rows written, in offset order; the store is done with them
}

// persister batches writes to the store off the hot path. Producers of
// commands, agents, events and audit entries append under a short lock;
// output stays in its command's log, which the persister watches and reads
// when due. Nobody waits for the disk: one goroutine commits whatever is
// due in one transaction, retrying until the store takes it, so a slow or
// failing disk delays storage but never streaming.
type persister struct {
	store    batchWriter
	log      *slog.Logger
	metrics  *metrics
	onStored func(stored)

	mu       sync.Mutex
	next     store.Batch             // everything but output
	cmdIndex map[string]int          // command id -> index in next.Commands
	watched  map[*outputLog]struct{} // logs with output not yet taken
	dueBytes atomic.Int64            // output bytes of logs over their row target
	inFlight atomic.Int64            // output bytes of the batch being committed
	wake     chan struct{}           // something was queued
	now      chan struct{}           // commit without waiting out the gap
	failing  bool                    // the last commit failed; reported once per outage

	timingScratch []wire.TimingRecord // take's, the persister goroutine's alone
}

// batchWriter is what the persister needs of the store.
type batchWriter interface {
	Apply(ctx context.Context, b *store.Batch) error
}

func newPersister(s batchWriter, log *slog.Logger, m *metrics, onStored func(stored)) *persister {
	return &persister{store: s, log: log, metrics: m, onStored: onStored,
		cmdIndex: make(map[string]int), watched: make(map[*outputLog]struct{}),
		wake: make(chan struct{}, 1), now: make(chan struct{}, 1)}
}

func (p *persister) signal() { poke(p.wake) }

// urge wakes the persister to commit without waiting out the gap.
func (p *persister) urge() {
	poke(p.now)
	poke(p.wake)
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// noteOutput is told, under o.mu, of n new bytes in o. The persister
// reads a log's output only when it is due (take), so the output path
// costs it no lock and no copy per frame. It reports whether o must be
// watched (persister.watch, after o.mu is released).
func (p *persister) noteOutput(o *outputLog, n int) (watch bool) {
	if !o.persisted.waiting {
		o.persisted.waiting = true
		o.persisted.target = rowTarget/2 + rand.IntN(rowTarget/2+1)
		o.persisted.dueAt = time.Now().Add(maxUnstoredAge/2 + rand.N(maxUnstoredAge/2+1))
		watch = true
	}
	if untaken := int(o.received - o.persisted.taken); untaken >= o.persisted.target {
		add := n
		if o.persisted.dueAdded == 0 {
			add = untaken
			p.signal() // due now: the next commit takes it
		}
		o.persisted.dueAdded += add
		if p.dueBytes.Add(int64(add)) >= commitBytes {
			poke(p.now)
		}
	}
	return watch
}

// pendingBytes is the output received but not stored, at scrape time.
func (p *persister) pendingBytes() float64 {
	n := p.inFlight.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	for o := range p.watched {
		o.mu.Lock()
		n += o.received - o.persisted.taken
		o.mu.Unlock()
	}
	return float64(n)
}

// watch adds o to the logs take looks at.
func (p *persister) watch(o *outputLog) {
	p.mu.Lock()
	p.watched[o] = struct{}{}
	p.mu.Unlock()
	p.signal()
}

// addCommand queues the command's current state; only the last state
// queued before a commit is written.
func (p *persister) addCommand(c wire.Command) {
	p.mu.Lock()
	if i, ok := p.cmdIndex[c.ID]; ok {
		p.next.Commands[i] = c
	} else {
		p.cmdIndex[c.ID] = len(p.next.Commands)
		p.next.Commands = append(p.next.Commands, c)
	}
	p.mu.Unlock()
	p.urge()
}

// addAgent queues an agent's state; an agent forgotten and back before
// the commit is not deleted.
func (p *persister) addAgent(a wire.Agent) {
	p.add(func(b *store.Batch) {
		b.ForgetAgents = slices.DeleteFunc(b.ForgetAgents, func(id string) bool { return id == a.ID })
		b.Agents = append(b.Agents, a)
	})
}

// forgetAgent deletes an agent from the store with the next commit.
func (p *persister) forgetAgent(id string) {
	p.add(func(b *store.Batch) {
		b.Agents = slices.DeleteFunc(b.Agents, func(a wire.Agent) bool { return a.ID == id })
		b.ForgetAgents = append(b.ForgetAgents, id)
	})
}

func (p *persister) addEvent(e store.Event) {
	p.add(func(b *store.Batch) { b.Events = append(b.Events, e) })
}

func (p *persister) addAudit(e wire.AuditEntry) {
	p.add(func(b *store.Batch) { b.Audit = append(b.Audit, e) })
}

// add puts something into the next batch and asks for a commit.
func (p *persister) add(put func(*store.Batch)) {
	p.mu.Lock()
	put(&p.next)
	p.mu.Unlock()
	p.urge()
}

// take swaps out what is due: everything but output, the output of
// logs that are due or whose command's state is in the batch (a stored
// final state acknowledges all its output), or with all, everything. It
// also returns when the earliest output left behind falls due (zero if
// none). Lock order: persister.mu before outputLog.mu.
func (p *persister) take(all bool) (*store.Batch, time.Time) {
	p.mu.Lock()
	b := p.next
	p.next = store.Batch{}
	withState := p.cmdIndex // the commands whose state is in b
	p.cmdIndex = make(map[string]int, len(withState))
	logs := make([]*outputLog, 0, len(p.watched))
	for o := range p.watched {
		logs = append(logs, o)
	}
	select {
	case <-p.now: // a stale signal would cut the next gap short
	default:
	}
	p.mu.Unlock()

	now := time.Now()
	var next time.Time
	taken := logs[:0]
	for _, o := range logs {
		o.mu.Lock()
		if !o.persisted.waiting {
			taken = append(taken, o)
		} else if _, stateToo := withState[o.id]; all || stateToo || o.persisted.dueAdded > 0 || !now.Before(o.persisted.dueAt) {
			b.Output = append(b.Output, o.takeLocked()...)
			b.Timing = append(b.Timing, o.takeTimingLocked(&p.timingScratch)...)
			p.dueBytes.Add(-int64(o.persisted.dueAdded))
			o.persisted.waiting, o.persisted.dueAdded = false, 0
			taken = append(taken, o)
		} else if next.IsZero() || o.persisted.dueAt.Before(next) {
			next = o.persisted.dueAt
		}
		o.mu.Unlock()
	}
	if len(taken) > 0 {
		// A log written to again since is watched again: it stays.
		p.mu.Lock()
		for _, o := range taken {
			o.mu.Lock()
			if !o.persisted.waiting {
				delete(p.watched, o)
			}
			o.mu.Unlock()
		}
		p.mu.Unlock()
	}
	if b.Empty() {
		return nil, next
	}
	return &b, next
}

// run commits batches until ctx ends, then commits what is left.
func (p *persister) run(ctx context.Context) {
	var last time.Time      // when the last commit began
	due := time.NewTimer(0) // output left waiting falls due
	for {
		select {
		case <-p.wake:
		case <-due.C:
		case <-ctx.Done():
			p.flush(context.WithoutCancel(ctx), 3)
			return
		}
		if gap := minCommitGap - time.Since(last); gap > 0 {
			t := time.NewTimer(gap)
			select {
			case <-t.C:
			case <-p.now:
				t.Stop()
			case <-ctx.Done():
				t.Stop()
				p.flush(context.WithoutCancel(ctx), 3)
				return
			}
		}
		last = time.Now()
		b, next := p.take(false)
		if b != nil {
			p.commit(ctx, b, 0)
		}
		if !next.IsZero() {
			due.Reset(time.Until(next))
		}
	}
}

// flush commits everything queued, giving up after tries failures each.
func (p *persister) flush(ctx context.Context, tries int) {
	for {
		b, _ := p.take(true)
		if b == nil {
			return
		}
		p.commit(ctx, b, tries)
	}
}

// commit applies b, retrying with backoff; tries 0 means until ctx ends.
func (p *persister) commit(ctx context.Context, b *store.Batch, tries int) {
	p.inFlight.Store(int64(outputBytes(b)))
	defer p.inFlight.Store(0)
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		began := time.Now()
		err := p.store.Apply(ctx, b)
		if err == nil {
			p.metrics.storeLatency.Observe(time.Since(began).Seconds())
			p.metrics.storeBatch.Observe(float64(len(b.Output) + len(b.Commands) + len(b.Agents) + len(b.Events)))
			if p.failing {
				p.log.Info("store recovered", "attempts", attempt)
				p.failing = false
			}
			p.onStored(summarize(b))
			return
		}
		if ctx.Err() != nil && tries == 0 {
			// Shutting down mid-commit: the final flush retries it.
			p.commit(context.WithoutCancel(ctx), b, 3)
			return
		}
		p.metrics.storeErrors.Inc()
		if !p.failing || attempt == 1 {
			p.log.Error("store write failed; live streaming continues, retrying", "err", err,
				"chunks", len(b.Output), "commands", len(b.Commands), "attempt", attempt)
		}
		p.failing = true
		if tries > 0 && attempt >= tries {
			p.log.Error("giving up on store batch", "chunks", len(b.Output), "commands", len(b.Commands))
			return
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			if tries == 0 {
				// Shutting down: the final flush retries a few more times.
				p.commit(context.WithoutCancel(ctx), b, 3)
				return
			}
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func outputBytes(b *store.Batch) int {
	n := 0
	for _, c := range b.Output {
		n += len(c.Data)
	}
	return n
}

func summarize(b *store.Batch) stored {
	s := stored{output: make(map[string]storedOutput)}
	// take puts each command's chunks next to each other, in order.
	for i := 0; i < len(b.Output); {
		id, j := b.Output[i].CommandID, i+1
		for j < len(b.Output) && b.Output[j].CommandID == id {
			j++
		}
		so := s.output[id]
		if so.rows == nil {
			so.rows = b.Output[i:j:j]
		} else {
			so.rows = append(so.rows, b.Output[i:j]...)
		}
		for _, c := range b.Output[i:j] {
			so.end = max(so.end, c.Offset+int64(len(c.Data)))
		}
		s.output[id] = so
		i = j
	}
	for _, c := range b.Commands {
		s.commands = append(s.commands, c.ID)
		if c.State.Final() {
			s.final = append(s.final, c)
		}
	}
	return s
}
