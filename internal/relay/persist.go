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

// stored reports what one committed batch made durable.
type stored struct {
	outputEnd map[string]int64 // command id -> end of its stored output
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
	wake     chan struct{}
	failing  bool // the last commit failed; reported once per outage
}

func newPersister(s store.Store, log *slog.Logger, m *metrics, onStored func(stored)) *persister {
	return &persister{store: s, log: log, metrics: m, onStored: onStored,
		cmdIndex: make(map[string]int), lastOut: make(map[string]int), wake: make(chan struct{}, 1)}
}

func (p *persister) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// addOutput queues output, merging it with the previous chunk of the same
// command when contiguous.
func (p *persister) addOutput(id string, offset int64, data []byte) {
	p.metrics.storePending.Add(float64(len(data)))
	p.mu.Lock()
	if i, ok := p.lastOut[id]; ok {
		c := &p.next.Output[i]
		if c.Offset+int64(len(c.Data)) == offset && len(c.Data)+len(data) <= maxChunkRow {
			c.Data = append(c.Data, data...)
			p.mu.Unlock()
			p.signal()
			return
		}
	}
	// Copy: the caller's slice is shared with subscribers' frames, and merging
	// appends to it.
	buf := make([]byte, len(data), max(len(data), 4096))
	copy(buf, data)
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
	p.signal()
}

func (p *persister) addAgent(a wire.Agent) {
	p.mu.Lock()
	p.next.Agents = append(p.next.Agents, a)
	p.mu.Unlock()
	p.signal()
}

func (p *persister) addEvent(e store.Event) {
	p.mu.Lock()
	p.next.Events = append(p.next.Events, e)
	p.mu.Unlock()
	p.signal()
}

func (p *persister) addAudit(e wire.AuditEntry) {
	p.mu.Lock()
	p.next.Audit = append(p.next.Audit, e)
	p.mu.Unlock()
	p.signal()
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
	clear(p.cmdIndex)
	clear(p.lastOut)
	return &b
}

// run commits batches until ctx ends, then commits what is left.
func (p *persister) run(ctx context.Context) {
	for {
		select {
		case <-p.wake:
		case <-ctx.Done():
			p.flush(context.WithoutCancel(ctx), 3)
			return
		}
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
		if c.State.Final() {
			s.final = append(s.final, c)
		}
	}
	return s
}
