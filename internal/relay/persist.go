package relay

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// maxChunkRow is the largest run of one command's output merged into one
// stored row: small writes cost one row per batch instead of one each.
const maxChunkRow = 64 << 10

// Commit pacing. While only output is waiting, a commit begins at least
// minCommitGap after the previous one began, unless commitBytes of it are
// waiting. A commit costs about the same for each command with output in
// it, however little (SQLite rewrites one index page per command), so
// with many small streams fewer, larger commits store the same bytes for
// a fraction of the CPU, with fewer rows and fewer acks. Anything else
// (a command, agent, event or audit entry) is committed without waiting:
// a new command starts only once stored. An idle relay commits at once:
// the gap only holds back a commit that follows another closely.
const (
	minCommitGap = 200 * time.Millisecond
	commitBytes  = 8 << 20
)

// stored reports what one committed batch made durable.
type stored struct {
	outputEnd map[string]int64 // command id -> end of its stored output
	commands  []string         // ids of the commands whose state is stored
	final     []wire.Command   // commands whose final state is stored
}

// persister batches writes to the store off the hot path. Producers append
// under a short lock and never wait for the disk; one goroutine commits
// whatever has accumulated in one transaction, retrying until the store
// takes it, so a slow or failing disk delays storage but never streaming.
type persister struct {
	store    store.Store
	log      *slog.Logger
	metrics  *metrics
	onStored func(stored)

	mu       sync.Mutex
	next     store.Batch
	cmdIndex map[string]int // command id -> index in next.Commands
	lastOut  map[string]int // command id -> index of its last chunk in next.Output
	outBytes int            // output bytes in next
	wake     chan struct{}  // something was queued
	now      chan struct{}  // commit without waiting out the gap
	failing  bool           // the last commit failed; reported once per outage
}

func newPersister(s store.Store, log *slog.Logger, m *metrics, onStored func(stored)) *persister {
	return &persister{store: s, log: log, metrics: m, onStored: onStored,
		cmdIndex: make(map[string]int), lastOut: make(map[string]int), wake: make(chan struct{}, 1),
		now: make(chan struct{}, 1)}
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

// addOutput queues output, merging it with the previous chunk of the same
// command when contiguous.
func (p *persister) addOutput(id string, offset int64, data []byte) {
	p.metrics.storePending.Add(float64(len(data)))
	p.mu.Lock()
	p.outBytes += len(data)
	if p.outBytes >= commitBytes {
		poke(p.now)
	}
	if i, ok := p.lastOut[id]; ok {
		c := &p.next.Output[i]
		if c.Offset+int64(len(c.Data)) == offset && len(c.Data)+len(data) <= maxChunkRow {
			if cap(c.Data)-len(c.Data) < len(data) {
				// Output outgrowing its first buffer is a stream: make room
				// for a whole row at once rather than copy it at each doubling.
				row := make([]byte, len(c.Data), maxChunkRow)
				copy(row, c.Data)
				c.Data = row
			}
			c.Data = append(c.Data, data...)
			p.mu.Unlock()
			p.signal()
			return
		}
	}
	// The caller's slice is shared with subscribers' frames and never
	// changes. A large one is kept as it is, capped so that a merge copies
	// it rather than append into the frame's memory; small ones are copied
	// into room for the merges that follow.
	var buf []byte
	if len(data) >= maxChunkRow/4 {
		buf = data[:len(data):len(data)]
	} else {
		buf = make([]byte, len(data), max(len(data), 4096))
		copy(buf, data)
	}
	p.lastOut[id] = len(p.next.Output)
	p.next.Output = append(p.next.Output, store.Chunk{CommandID: id, Offset: offset, Data: buf})
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

func (p *persister) addAgent(a wire.Agent) {
	p.add(func(b *store.Batch) { b.Agents = append(b.Agents, a) })
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

// take swaps out what has accumulated.
func (p *persister) take() *store.Batch {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next.Empty() {
		return nil
	}
	b := p.next
	p.next = store.Batch{}
	p.outBytes = 0
	clear(p.cmdIndex)
	clear(p.lastOut)
	select {
	case <-p.now: // a stale signal would cut the next gap short
	default:
	}
	return &b
}

// run commits batches until ctx ends, then commits what is left.
func (p *persister) run(ctx context.Context) {
	var last time.Time // when the last commit began
	for {
		select {
		case <-p.wake:
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
		if b := p.take(); b != nil {
			p.commit(ctx, b, 0)
		}
	}
}

// flush commits everything queued, giving up after tries failures each.
func (p *persister) flush(ctx context.Context, tries int) {
	for b := p.take(); b != nil; b = p.take() {
		p.commit(ctx, b, tries)
	}
}

// commit applies b, retrying with backoff; tries 0 means until ctx ends.
func (p *persister) commit(ctx context.Context, b *store.Batch, tries int) {
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		began := time.Now()
		err := p.store.Apply(ctx, b)
		if err == nil {
			p.metrics.storeLatency.Observe(time.Since(began).Seconds())
			p.metrics.storeBatch.Observe(float64(len(b.Output) + len(b.Commands) + len(b.Agents) + len(b.Events)))
			p.metrics.storePending.Sub(float64(outputBytes(b)))
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
	s := stored{outputEnd: make(map[string]int64)}
	for _, c := range b.Output {
		if end := c.Offset + int64(len(c.Data)); end > s.outputEnd[c.CommandID] {
			s.outputEnd[c.CommandID] = end
		}
	}
	for _, c := range b.Commands {
		s.commands = append(s.commands, c.ID)
		if c.State.Final() {
			s.final = append(s.final, c)
		}
	}
	return s
}
