package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// Retention (relay --retain, --max-db-size): one goroutine removes the
// oldest finished commands (their row, output and timing) in small
// transactions, each between two of the persister's commits, so that
// streaming never waits long for the store. Queued and running commands
// are never removed (the store refuses them, and so does the hub for
// those it holds live). One audit row per batch of at most
// retentionBatch commands lists every command removed.

// Retention configures the retention worker. Zero values: no limit.
type Retention struct {
	// Retain is how long a finished command is kept after it ended.
	Retain time.Duration
	// MaxSize is the room history may take in the store, in bytes:
	// store.Pruner.SpaceUsed less what removed rows left free (measure).
	// Past it, the oldest finished commands are removed until it is back
	// under 95% of it.
	MaxSize int64
	// Every is how often the worker looks; default a quarter of Retain,
	// between 1 s and 1 min, and at most 10 s with MaxSize.
	Every time.Duration
	// StepRows bounds the rows one removal transaction removes; default
	// 64 (about 1 MiB of output rows).
	StepRows int
	// Pause is the wait between two of the worker's transactions, in
	// which the persister commits; default 5 ms.
	Pause time.Duration
}

const (
	retentionBatch = 50   // commands per batch, and per audit row
	reclaimPages   = 256  // pages per reclaim step: 4 MiB of 16 KiB pages
	reclaimSteps   = 16   // reclaim steps per pass (the next pass goes on)
	eventStepRows  = 1000 // events per transaction
	sizeHeadroom   = 20   // remove down to MaxSize - MaxSize/sizeHeadroom
)

func (r *Retention) on() bool { return r.Retain > 0 || r.MaxSize > 0 }

func (r *Retention) setDefaults() {
	if r.Every <= 0 {
		r.Every = time.Minute
		if r.Retain > 0 {
			r.Every = min(max(r.Retain/4, time.Second), time.Minute)
		}
		if r.MaxSize > 0 {
			r.Every = min(r.Every, 10*time.Second)
		}
	}
	if r.StepRows <= 0 {
		r.StepRows = 64
	}
	if r.Pause <= 0 {
		r.Pause = 5 * time.Millisecond
	}
}

// retainer is the worker's state; only its goroutine touches it.
type retainer struct {
	h     *Local
	store store.Pruner
	cfg   Retention
	// size is the space used at the last measure and written the
	// store's Written then; free is the part of size that removed rows
	// left for later writes to reuse (PostgreSQL's tables keep it;
	// SQLite's space used shrinks at once, and its free stays 0).
	size, written, free int64
	dirty               bool // rows were removed since the last Reclaim
	m                   retentionMetrics
}

type retentionMetrics struct {
	commands, rows, bytes, errors prometheus.Counter
	lastPass, spaceUsed           prometheus.Gauge
	commandsRemoved               int64 // what commands counted
}

func newRetainer(h *Local, st store.Store, cfg Retention, reg prometheus.Registerer) (*retainer, error) {
	if cfg.Retain < 0 || cfg.MaxSize < 0 {
		return nil, fmt.Errorf("retention: negative limit (retain %v, max size %d)", cfg.Retain, cfg.MaxSize)
	}
	p, ok := st.(store.Pruner)
	if !ok {
		return nil, errors.New("retention: the store cannot remove commands")
	}
	cfg.setDefaults()
	r := &retainer{h: h, store: p, cfg: cfg, m: retentionMetrics{
		commands: prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_retention_commands_removed_total",
			Help: "Finished commands removed by retention (--retain, --max-db-size)."}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_retention_rows_removed_total",
			Help: "Rows removed by retention: commands, output, timing and events."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_retention_bytes_removed_total",
			Help: "Bytes of output and timing removed by retention."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_retention_errors_total",
			Help: "Retention passes that a store error ended early (the next pass goes on)."}),
		lastPass: prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_retention_last_pass_timestamp_seconds",
			Help: "When retention's last pass ended (unix seconds)."}),
		spaceUsed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_store_space_used_bytes",
			Help: "Room the store's data takes as --max-db-size counts it (the space used less what removed rows left free), at retention's last pass."}),
	}}
	reg.MustRegister(r.m.commands, r.m.rows, r.m.bytes, r.m.errors, r.m.lastPass, r.m.spaceUsed)
	return r, nil
}

// run makes a pass every cfg.Every until ctx ends.
func (r *retainer) run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Every)
	defer t.Stop()
	for {
		if err := r.pass(ctx, time.Now()); err != nil && ctx.Err() == nil {
			r.m.errors.Inc()
			r.h.log.Warn("retention pass failed; the next goes on", "err", err)
		}
		r.m.lastPass.SetToCurrentTime()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pass removes what is past either limit, then prunes old events and
// gives the space back.
func (r *retainer) pass(ctx context.Context, now time.Time) error {
	var eventsBefore time.Time
	if r.cfg.Retain > 0 {
		cutoff := now.Add(-r.cfg.Retain)
		if _, err := r.removeFinished(ctx, cutoff, -1, fmt.Sprintf("ended over --retain %v ago", r.cfg.Retain)); err != nil {
			return err
		}
		eventsBefore = cutoff
	}
	if r.cfg.MaxSize > 0 {
		newest, err := r.removeForSize(ctx)
		if err != nil {
			return err
		}
		if newest.After(eventsBefore) {
			eventsBefore = newest
		}
	}
	if !eventsBefore.IsZero() {
		if err := r.pruneEvents(ctx, eventsBefore); err != nil {
			return err
		}
	}
	if err := r.reclaim(ctx); err != nil {
		return err
	}
	_, err := r.measure(ctx)
	return err
}

// removeForSize removes the oldest finished commands when the data in
// the store is over the limit, until the output and indexed text removed
// make up for the excess (and 5% of the limit besides). It returns when
// the newest of them ended.
func (r *retainer) removeForSize(ctx context.Context) (time.Time, error) {
	var newest time.Time
	for {
		held, err := r.measure(ctx)
		if err != nil || held <= r.cfg.MaxSize {
			return newest, err
		}
		target := held - (r.cfg.MaxSize - r.cfg.MaxSize/sizeHeadroom)
		reason := fmt.Sprintf("the store held %d bytes, over --max-db-size %d", held, r.cfg.MaxSize)
		removedBefore := r.m.commandsRemoved
		last, err := r.removeFinished(ctx, time.Time{}, target, reason)
		if last.After(newest) {
			newest = last
		}
		if err != nil {
			return newest, err
		}
		if err := r.reclaim(ctx); err != nil {
			return newest, err
		}
		// What a command holds besides its output and timing (its search
		// index) is not counted as removed: measure again, and go on
		// while something was removed and the store is still over.
		if r.m.commandsRemoved == removedBefore {
			_, err = r.measure(ctx)
			return newest, err
		}
	}
}

// measure is the data the store holds as --max-db-size counts it: the
// space used less what removed rows left free. Writes that did not grow
// the space used went into that free space; space given back came out of
// it.
func (r *retainer) measure(ctx context.Context) (int64, error) {
	size, err := r.store.SpaceUsed(ctx)
	if err != nil {
		return 0, err
	}
	written := r.store.Written()
	if r.store.SpaceShrinks() {
		r.size, r.written, r.free = size, written, 0
		r.m.spaceUsed.Set(float64(size))
		return size, nil
	}
	grew := size - r.size
	if grew < 0 {
		r.free += grew
		grew = 0
	}
	r.free -= max(0, written-r.written-grew)
	r.free = min(max(r.free, 0), size)
	r.size, r.written = size, written
	r.m.spaceUsed.Set(float64(size - r.free))
	return size - r.free, nil
}

// removeFinished removes finished commands created and ended before
// before (zero: any), oldest first, in batches of retentionBatch, until
// none is left or (target ≥ 0) target bytes are removed. It returns when
// the newest removed command ended.
func (r *retainer) removeFinished(ctx context.Context, before time.Time, target int64, reason string) (time.Time, error) {
	var newest time.Time
	sized := target >= 0
	for {
		found, err := r.store.Finished(ctx, before, retentionBatch)
		if err != nil {
			return newest, err
		}
		b := batchResult{reason: reason}
		for _, f := range found {
			if sized && b.freed() >= target {
				break
			}
			if err := r.removeCommand(ctx, f, &b); err != nil {
				r.audit(b)
				return newest, err
			}
			if f.EndedAt.After(newest) {
				newest = f.EndedAt
			}
		}
		r.audit(b)
		target -= b.freed()
		// A batch that removed nothing would find the same commands again.
		if sized && target <= 0 || len(found) < retentionBatch || len(b.ids) == 0 {
			return newest, nil
		}
	}
}

// batchResult is what one batch removed.
type batchResult struct {
	reason string
	ids    []string
	rows   int
	bytes  int64 // output and timing
	index  int64 // the search index's text, about as much again
}

// freed is what a size limit counts as made up for: output, timing and
// indexed text. The full-text index itself is not counted, so it falls
// short, and the worker measures again before it removes more.
func (b *batchResult) freed() int64 { return b.bytes + b.index }

// removeCommand removes one command in steps of cfg.StepRows rows,
// pausing between them. A command the hub holds live is skipped.
func (r *retainer) removeCommand(ctx context.Context, f store.Finished, b *batchResult) error {
	id := f.ID
	if r.h.holdsLive(id) {
		return nil
	}
	for {
		step, err := r.store.RemoveStep(ctx, id, r.cfg.StepRows)
		if errors.Is(err, store.ErrLive) {
			return nil // it was live after all: it stays
		}
		if err != nil {
			return err
		}
		b.rows += step.Rows
		b.bytes += step.Bytes
		b.index += step.IndexBytes
		r.free += step.Bytes
		r.dirty = r.dirty || step.Rows > 0
		r.m.rows.Add(float64(step.Rows))
		r.m.bytes.Add(float64(step.Bytes))
		if step.Done {
			b.ids = append(b.ids, id)
			r.m.commands.Inc()
			r.m.commandsRemoved++
			r.h.forgetRemoved(f)
			return nil
		}
		if err := r.yield(ctx); err != nil {
			return err
		}
	}
}

// pruneEvents removes events stored before before, a bounded step at a
// time.
func (r *retainer) pruneEvents(ctx context.Context, before time.Time) error {
	for {
		n, err := r.store.PruneEvents(ctx, before, eventStepRows)
		if err != nil {
			return err
		}
		r.dirty = r.dirty || n > 0
		r.m.rows.Add(float64(n))
		if n < eventStepRows {
			return nil
		}
		if err := r.yield(ctx); err != nil {
			return err
		}
	}
}

// reclaim gives the space of removed rows back, a bounded step at a
// time, and at most reclaimSteps steps a pass (the next pass goes on).
func (r *retainer) reclaim(ctx context.Context) error {
	if !r.dirty {
		return nil
	}
	r.dirty = false
	for range reclaimSteps {
		more, err := r.store.Reclaim(ctx, reclaimPages)
		if err != nil || !more {
			return err
		}
		if err := r.yield(ctx); err != nil {
			return err
		}
	}
	r.dirty = true // steps left for the next pass
	return nil
}

// yield leaves the store to the persister for cfg.Pause.
func (r *retainer) yield(ctx context.Context) error {
	t := time.NewTimer(r.cfg.Pause)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// audit writes one row listing a batch's removed commands.
func (r *retainer) audit(b batchResult) {
	if len(b.ids) == 0 {
		return
	}
	r.h.log.Info("retention removed commands", "commands", len(b.ids), "rows", b.rows, "bytes", b.bytes, "why", b.reason)
	subject := fmt.Sprintf("%d commands", len(b.ids))
	if len(b.ids) == 1 {
		subject = "1 command"
	}
	r.h.Audit(Actor{Token: "relay"}, "retention_remove", subject, "ok",
		fmt.Sprintf("%s: %s (%d rows, %d bytes)", b.reason, strings.Join(b.ids, ", "), b.rows, b.bytes))
}

// holdsLive reports whether the hub has id as a queued or running command.
func (h *Local) holdsLive(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.commands[id]
	return cs != nil && !cs.cmd.State.Final()
}

// forgetRemoved drops a removed command from memory, so that snapshots
// and history no longer show it, and tells the dashboards that may see
// it (command.removed), which may hold it however old it is.
func (h *Local) forgetRemoved(f store.Finished) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cs := h.commands[f.ID]; cs != nil {
		if !cs.cmd.State.Final() {
			return // not the command the store had (it never is)
		}
		delete(h.commands, f.ID)
		h.recent = slices.DeleteFunc(h.recent, func(r string) bool { return r == f.ID })
	}
	h.broadcastLocked(f.AgentID, wire.TypeCommandRemoved, f.ID, func(seq uint64) wire.Message {
		return &wire.CommandRemoved{Seq: seq, CommandID: f.ID}
	})
}
