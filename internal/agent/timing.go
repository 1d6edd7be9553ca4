package agent

import (
	"time"

	"switchboard/internal/wire"
)

// Timing. The agent notes when each read of a command's terminal
// happened, when the terminal was resized and (with Config.RecordInput)
// what was typed, as timing records (wire/timing.go) numbered from 0 per
// command. Like output, records are kept until the relay acknowledges the
// output they describe, and are sent again on every new connection, so a
// relay restart loses none; the relay ignores numbers it already has.
//
// A record is sent no later than the output at its offset: a timed frame
// carries every unsent record with an offset inside its data, or its data
// is cut short at the first one that did not fit.

// Bounds on what one timed frame carries besides its output.
const (
	maxSectionRecords = 4096
	maxSectionInput   = 64 << 10 // input bytes in one section
	// maxHeldInput is the input, in bytes, the agent keeps recorded for
	// one command before it is acknowledged; typing past it while the
	// relay is away goes unrecorded.
	maxHeldInput = 1 << 20
)

// timingLog is one command's timing records the relay has not yet
// acknowledged. Agent.mu guards it.
type timingLog struct {
	recs      []wire.TimingRecord // in Seq order
	next      uint64              // Seq of the next record
	lastOut   int64               // time of the last output record; -1 before the first
	heldInput int                 // bytes of input in recs
	dropped   bool                // input went unrecorded since the last ack (logged once)
}

func newTimingLog() timingLog { return timingLog{lastOut: -1} }

func (l *timingLog) add(r wire.TimingRecord) {
	r.Seq = l.next
	l.next++
	l.recs = append(l.recs, r)
}

// output notes a read whose first byte is at offset off, at ms
// milliseconds into the command. Reads in the same millisecond as the
// last noted one need no record of their own.
func (l *timingLog) output(ms, off int64) {
	if ms == l.lastOut {
		return
	}
	l.lastOut = ms
	l.add(wire.TimingRecord{Kind: wire.TimingOutput, TimeMS: ms, Offset: off})
}

func (l *timingLog) resize(ms, off int64, cols, rows int) {
	l.add(wire.TimingRecord{Kind: wire.TimingResize, TimeMS: ms, Offset: off, Cols: cols, Rows: rows})
}

// input records typed bytes, a paste of more than a section holds as
// several records; it reports false when the held input is at its bound
// and they went unrecorded.
func (l *timingLog) input(ms, off int64, data []byte) bool {
	if l.heldInput+len(data) > maxHeldInput {
		return false
	}
	l.heldInput += len(data)
	for len(data) > 0 {
		n := min(len(data), maxSectionInput)
		l.add(wire.TimingRecord{Kind: wire.TimingInput, TimeMS: ms, Offset: off, Data: append([]byte(nil), data[:n]...)})
		data = data[n:]
	}
	return true
}

// ack forgets the records of output before offset to, which the relay
// has stored with their output. A record at to itself is about output
// yet to come, or came after the last output, and is kept.
func (l *timingLog) ack(to int64) {
	n := 0
	for n < len(l.recs) && l.recs[n].Offset < to {
		l.heldInput -= len(l.recs[n].Data)
		n++
	}
	if n == 0 {
		return
	}
	clear(l.recs[:n])
	l.recs = l.recs[n:]
	if len(l.recs) == 0 {
		l.recs = nil
	}
	l.dropped = false
}

// unsent returns the records from Seq from on.
func (l *timingLog) unsent(from uint64) []wire.TimingRecord {
	for i, r := range l.recs {
		if r.Seq >= from {
			return l.recs[i:]
		}
	}
	return nil
}

// section takes from recs what one timed frame carries.
func section(recs []wire.TimingRecord) []wire.TimingRecord {
	input := 0
	for i, r := range recs {
		input += len(r.Data)
		if i == maxSectionRecords || (i > 0 && input > maxSectionInput) {
			return recs[:i]
		}
	}
	return recs
}

// sinceStart is how far into command c the agent's clock is, in
// milliseconds. Called with Agent.mu held.
func (c *command) sinceStart() int64 {
	if c.startedAt.IsZero() {
		return 0
	}
	return time.Since(c.startedAt).Milliseconds()
}

// noteResize records that command id's terminal is now cols x rows.
func (a *Agent) noteResize(id string, cols, rows int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.cmds[id]; c != nil && c.exit == nil {
		c.timing.resize(c.sinceStart(), c.out.end, int(dim(cols, defaultCols)), int(dim(rows, defaultRows)))
		a.notifyLocked()
	}
}

// noteInput records what was typed into command id, when the agent
// records input.
func (a *Agent) noteInput(id string, data []byte) {
	if !a.cfg.RecordInput {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.cmds[id]
	if c == nil || c.exit != nil {
		return
	}
	if !c.timing.input(c.sinceStart(), c.out.end, data) && !c.timing.dropped {
		c.timing.dropped = true
		a.log.Warn("input not recorded: the relay has not acknowledged this command's earlier input",
			"command_id", id, "held_bytes", c.timing.heldInput)
	}
	a.notifyLocked()
}
