package hub

import (
	"fmt"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// Timing. An agent whose welcome says timing sends timed output frames:
// output with the timing records (wire/timing.go) of when it was
// produced, of resizes and of input. The reader copies a frame's records
// into its command's outputLog, ignoring numbers the log already has, and
// passes the output on as a plain output frame; the persister takes the
// records with the log's output and merges them into one stored row per
// command and commit. An agent sends a record no later than the output
// at its offset, so the records of any output the relay acknowledges are
// stored with it, or before.

// timingBuf is the timing of one outputLog not yet handed to the
// persister. Guarded by outputLog.mu.
type timingBuf struct {
	next    uint64 // number of the next record; records below it are resends, ignored
	pending []byte // timing sections, one after another
}

// addTiming takes a timed frame's timing section into o. A malformed
// section is refused whole, with the reason; the frame's output is not
// affected. An empty one (a frame with no records) is nothing.
func (o *outputLog) addTiming(sec []byte, p *persister) error {
	if len(sec) == 0 {
		return nil
	}
	first, count, err := wire.TimingSpan(sec)
	if err == nil {
		var rest []byte
		if rest, err = wire.ScanTiming(sec, nil); err == nil && len(rest) > 0 {
			err = fmt.Errorf("%w: %d bytes after the timing section", wire.ErrBadMessage, len(rest))
		}
	}
	if err != nil || count == 0 {
		return err
	}
	o.mu.Lock()
	if o.ended || first+count <= o.tm.next {
		o.mu.Unlock()
		return nil
	}
	if first < o.tm.next {
		sec = skipRecords(sec, o.tm.next)
	}
	o.tm.pending = append(o.tm.pending, sec...)
	o.tm.next = first + count
	watch := p.noteOutput(o, 0)
	o.mu.Unlock()
	if watch {
		p.watch(o)
	}
	return nil
}

// skipRecords re-encodes a valid section without its records numbered
// below from.
func skipRecords(sec []byte, from uint64) []byte {
	var keep []wire.TimingRecord
	_, _ = wire.ScanTiming(sec, func(r wire.TimingRecord) bool {
		if r.Seq >= from {
			keep = append(keep, r)
		}
		return true
	})
	return wire.AppendTimingSection(nil, keep)
}

// maxKeptRun bounds the records the persister's scratch keeps between
// commits (72 bytes each).
const maxKeptRun = 4096

// takeTimingLocked hands the pending timing to the persister as rows for
// the store: one row for each run of consecutive record numbers (one, but
// for records an agent lost to overflow). scratch holds a run's records
// while they are re-encoded; the persister keeps it from one log to the
// next (a run grown afresh for every log and commit was the relay's
// largest allocation under S1).
func (o *outputLog) takeTimingLocked(scratch *[]wire.TimingRecord) []store.TimingRow {
	if len(o.tm.pending) == 0 {
		return nil
	}
	var rows []store.TimingRow
	run := (*scratch)[:0]
	defer func() {
		if cap(run) > maxKeptRun {
			run = nil // a burst's worth is not kept
		}
		*scratch = run[:0]
	}()
	flush := func() {
		if len(run) > 0 {
			rows = append(rows, store.TimingRow{CommandID: o.id, Seq: run[0].Seq, Data: wire.AppendTimingSection(nil, run)})
			run = run[:0]
		}
	}
	for b := o.tm.pending; len(b) > 0; {
		b, _ = wire.ScanTiming(b, func(r wire.TimingRecord) bool { // addTiming checked every section
			if len(run) > 0 && r.Seq != run[len(run)-1].Seq+1 {
				flush()
			}
			run = append(run, r)
			return true
		})
	}
	flush()
	o.tm.pending = nil
	return rows
}
