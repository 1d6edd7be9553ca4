package hub

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/store"
)

// What the indexer reads and writes per transaction: output bytes read
// (and so lines indexed) and commands. Small enough that the persister's
// next commit, which waits for the index's transaction on SQLite's one
// writer, is not held up long; large enough that a commit's cost is
// shared by many lines.
const (
	indexBatchBytes    = 128 << 10
	indexBatchCommands = 128
	indexRetryMax      = 10 * time.Second
)

// indexStore is what the indexer needs of the store.
type indexStore interface {
	ReadOutput(ctx context.Context, commandID string, from int64, max int) ([]byte, int64, error)
	store.Search
}

// indexer keeps the full-text index of stored output up to date, off the
// streaming path: told after each commit which commands have new output
// stored (noteStored, from onStored), it reads that output back from the
// store, cuts it into lines (store.NextLines) and writes them with each
// command's cursor in a transaction of its own. Its cursors are in the
// store, so a restarted relay resumes from them (IndexBacklog). While the
// relay is short of CPU it rests between batches (cpuPacer, pace.go): the
// index then falls behind live output, which its lag metrics show, and
// catches up when the relay is quiet again. One goroutine, run, started
// by Local.Run and ended by its context.
type indexer struct {
	st  indexStore
	log *slog.Logger

	lagBytes, lagSeconds prometheus.GaugeFunc
	indexedBytes         prometheus.Counter
	indexedLines         prometheus.Counter
	rested               prometheus.Counter
	errors               prometheus.Counter

	pace *cpuPacer // run's alone

	mu    sync.Mutex
	todo  map[string]*indexWork // commands with output stored but not indexed
	ready bool                  // the backlog is loaded: cursors of commands not in todo are zero
	wake  chan struct{}
}

// indexWork is one command's place in the index.
type indexWork struct {
	cur     store.IndexCursor
	stored  int64     // end of its stored output, as far as known
	pending bool      // output stored past cur may be ready to index
	gen     uint64    // counts the commits that noted it
	since   time.Time // while pending: since when output waits to be indexed
}

// newIndexer makes an indexer of st's output that, while the relay is
// short of CPU, works at most busyShare of the time (1: never rests).
func newIndexer(st indexStore, log *slog.Logger, reg prometheus.Registerer, busyShare float64) *indexer {
	x := &indexer{st: st, log: log, todo: make(map[string]*indexWork), wake: make(chan struct{}, 1),
		pace: newCPUPacer(busyShare)}
	x.lagBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_search_index_lag_bytes",
		Help: "Output bytes stored but not yet in the search index (as far as the indexer knows: after a restart, from its first read)."},
		func() float64 { b, _ := x.lag(time.Now()); return float64(b) })
	x.lagSeconds = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_search_index_lag_seconds",
		Help: "How long the oldest stored output not yet in the search index has waited."},
		func() float64 { _, s := x.lag(time.Now()); return s.Seconds() })
	x.indexedBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_search_indexed_bytes_total",
		Help: "Output bytes the search indexer has read and indexed."})
	x.indexedLines = prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_search_indexed_lines_total",
		Help: "Lines written to the search index."})
	x.rested = prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_search_index_rested_seconds_total",
		Help: "Time the search indexer rested between batches to leave the CPU to streaming (the relay's goroutines were waiting for one)."})
	x.errors = prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_search_index_errors_total",
		Help: "Failed search index transactions (each is retried)."})
	reg.MustRegister(x.lagBytes, x.lagSeconds, x.indexedBytes, x.indexedLines, x.rested, x.errors)
	return x
}

// noteStored is told what a commit stored: output up to an end per
// command, and the commands whose final state is stored.
func (x *indexer) noteStored(s stored) {
	now := time.Now()
	x.mu.Lock()
	for id, out := range s.output {
		w := x.noteLocked(id, now)
		w.stored = max(w.stored, out.end)
	}
	for _, c := range s.final {
		w := x.noteLocked(c.ID, now)
		w.cur.Final = true
		w.stored = max(w.stored, c.OutputBytes)
	}
	x.mu.Unlock()
	poke(x.wake)
}

// noteLocked marks a command's entry pending, making one if it has none.
func (x *indexer) noteLocked(id string, now time.Time) *indexWork {
	w := x.todo[id]
	if w == nil {
		w = &indexWork{cur: store.IndexCursor{CommandID: id}}
		x.todo[id] = w
	}
	if !w.pending {
		w.pending, w.since = true, now
	}
	w.gen++
	return w
}

// lag is the output known stored and not indexed, and the age of the
// oldest.
func (x *indexer) lag(now time.Time) (int64, time.Duration) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var bytes int64
	var oldest time.Time
	for _, w := range x.todo {
		if !w.pending {
			continue
		}
		bytes += max(w.stored-w.cur.Off, 0)
		if oldest.IsZero() || w.since.Before(oldest) {
			oldest = w.since
		}
	}
	if oldest.IsZero() {
		return bytes, 0
	}
	return bytes, now.Sub(oldest)
}

// run loads the backlog, then indexes whatever is noted until ctx ends,
// resting after a batch as the pacer says. A failed read or write is
// retried, backing off to indexRetryMax.
func (x *indexer) run(ctx context.Context) {
	wait := time.Duration(0)
	for ctx.Err() == nil {
		started := time.Now()
		err := x.step(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			x.errors.Inc()
			wait = min(max(2*wait, 100*time.Millisecond), indexRetryMax)
			x.log.Warn("search index: will retry", "in", wait, "err", err)
		case err == nil && x.idle():
			wait = 0
			select {
			case <-ctx.Done():
			case <-x.wake:
			}
			continue
		default:
			wait = x.pace.rest(time.Since(started))
			x.rested.Add(wait.Seconds())
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

func (x *indexer) idle() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.ready {
		return false
	}
	for _, w := range x.todo {
		if w.pending {
			return false
		}
	}
	return true
}

// step loads the backlog if it is not loaded, else indexes one batch.
func (x *indexer) step(ctx context.Context) error {
	x.mu.Lock()
	ready := x.ready
	x.mu.Unlock()
	if !ready {
		return x.loadBacklog(ctx)
	}
	return x.indexBatch(ctx)
}

// loadBacklog takes the stored cursors of commands not indexed to their
// end; commands noted meanwhile without one start at zero.
func (x *indexer) loadBacklog(ctx context.Context) error {
	backlog, err := x.st.IndexBacklog(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, c := range backlog {
		w := x.noteLocked(c.CommandID, now)
		c.Final = c.Final || w.cur.Final
		w.cur = c
	}
	x.ready = true
	x.log.Info("search index: resuming", "commands", len(backlog))
	return nil
}

// indexBatch reads the next output of up to indexBatchCommands pending
// commands, indexBatchBytes in all, and writes its lines with their
// cursors.
func (x *indexer) indexBatch(ctx context.Context) error {
	started := time.Now()
	x.mu.Lock()
	picked := make([]indexPick, 0, min(len(x.todo), indexBatchCommands))
	for _, w := range x.todo {
		if len(picked) == indexBatchCommands {
			break
		}
		if w.pending {
			picked = append(picked, indexPick{cur: w.cur, gen: w.gen})
		}
	}
	x.mu.Unlock()
	if len(picked) == 0 {
		return nil
	}
	per := max(indexBatchBytes/len(picked), 2*store.MaxIndexLine) // room for a whole line
	updates := make([]store.IndexUpdate, 0, len(picked))
	var read int64
	for i := range picked {
		if read >= indexBatchBytes {
			// per's floor lets many commands' reads add up past the bound;
			// the rest wait for the next batch.
			picked = picked[:i]
			break
		}
		u, n, caughtUp, err := x.next(ctx, picked[i].cur, per)
		if err != nil {
			return err
		}
		read += n
		updates = append(updates, u)
		picked[i].caughtUp = caughtUp
	}
	if err := x.st.Index(ctx, updates); err != nil {
		return err
	}
	x.indexedBytes.Add(float64(read))
	x.advance(updates, picked, started)
	return nil
}

// indexPick is a command taken into a batch: its cursor and note count
// then, and whether the read reached the end of its stored output.
type indexPick struct {
	cur      store.IndexCursor
	gen      uint64
	caughtUp bool
}

// next is one command's update: its lines in up to limit bytes from its
// cursor, and whether that reached the end of what is stored. A final
// command's last line needs no newline once its output ends there; an
// update that finds nothing more of a final command marks it done.
func (x *indexer) next(ctx context.Context, c store.IndexCursor, limit int) (store.IndexUpdate, int64, bool, error) {
	data, start, err := x.st.ReadOutput(ctx, c.CommandID, c.Off, limit)
	if err != nil {
		return store.IndexUpdate{}, 0, false, err
	}
	if len(data) == 0 {
		c.Done = c.Final
		return store.IndexUpdate{Cursor: c}, 0, true, nil
	}
	caughtUp := len(data) < limit // or the read stopped at a gap: the next read finds out
	lines, off, n := store.NextLines(data, start, c.Line, c.Final && caughtUp)
	x.indexedLines.Add(float64(len(lines)))
	c.Off, c.Line = off, n
	return store.IndexUpdate{Lines: lines, Cursor: c}, off - start, caughtUp, nil
}

// advance records the cursors the store took. A done command leaves the
// list; a running one that is caught up waits, unless a commit noted it
// meanwhile, for the next commit that stores its output (what is stored
// past its cursor is a line not ended yet).
func (x *indexer) advance(us []store.IndexUpdate, picked []indexPick, started time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for i, u := range us {
		w := x.todo[u.Cursor.CommandID]
		if w == nil {
			continue
		}
		final := w.cur.Final // noted meanwhile, perhaps
		w.cur = u.Cursor
		w.cur.Final = w.cur.Final || final
		w.stored = max(w.stored, w.cur.Off)
		switch p := picked[i]; {
		case u.Cursor.Done:
			delete(x.todo, u.Cursor.CommandID)
		case p.caughtUp && p.gen == w.gen && !w.cur.Final:
			w.pending = false
		case p.caughtUp:
			w.since = started // what was noted before the read is indexed
		}
	}
}
