package wire

import (
	"encoding/binary"
	"fmt"
	"strconv"

	json "github.com/segmentio/encoding/json"
)

// Timing records say when a command's output was produced, when its
// terminal was resized and, where the agent records it, what was typed.
// An agent sends them in timed output frames (FrameTimed); the relay
// stores them beside the output and serves them as TimingEvents.
//
// A timing section is a run of records with consecutive sequence numbers:
//
//	section = first_seq:uvarint count:uvarint record{count}
//	record  = head:uvarint offset:uvarint payload
//	head    = dt << 2 | kind
//
// For a section's first record dt is the record's time in milliseconds
// since the command started and offset its output offset; for each later
// record both are the increase over the record before it, so neither may
// go down within a section. A resize record's payload is cols:uvarint
// rows:uvarint; an input record's is len:uvarint and that many bytes; an
// output record has none.

// Timing record kinds.
const (
	TimingOutput byte = 0 // the output byte at Offset was read at TimeMS
	TimingResize byte = 1 // the terminal became Cols x Rows at TimeMS
	TimingInput  byte = 2 // Data was typed into the command at TimeMS
)

// Limits on what a timing record may say.
const (
	maxTimingMS   = 1 << 42 // 139 years of milliseconds
	maxTimingSide = 0xffff  // terminal columns or rows
)

// TimingRecord is one decoded timing record. Offset is the output offset
// at which it happened: for an output record the first byte of a read,
// for a resize or input the offset of the next byte to come.
type TimingRecord struct {
	Seq    uint64
	Kind   byte
	TimeMS int64
	Offset int64
	Cols   int    // resize only
	Rows   int    // resize only
	Data   []byte // input only; aliases the section it was read from
}

// AppendTimingSection appends recs, which must have consecutive Seq, as
// one section. Times and offsets that go down are raised to the previous
// record's, so the section stays valid.
func AppendTimingSection(dst []byte, recs []TimingRecord) []byte {
	if len(recs) == 0 {
		return dst
	}
	dst = binary.AppendUvarint(dst, recs[0].Seq)
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	var t, off int64
	for i, r := range recs {
		dt, doff := max(r.TimeMS, t)-t, max(r.Offset, off)-off
		if i == 0 {
			dt, doff = max(r.TimeMS, 0), max(r.Offset, 0)
		}
		t, off = t+dt, off+doff
		dst = binary.AppendUvarint(dst, uint64(dt)<<2|uint64(r.Kind&3))
		dst = binary.AppendUvarint(dst, uint64(doff))
		switch r.Kind {
		case TimingResize:
			dst = binary.AppendUvarint(dst, uint64(r.Cols))
			dst = binary.AppendUvarint(dst, uint64(r.Rows))
		case TimingInput:
			dst = binary.AppendUvarint(dst, uint64(len(r.Data)))
			dst = append(dst, r.Data...)
		}
	}
	return dst
}

// ScanTiming reads the section at the start of b, calling fn for each
// record until fn returns false. It returns what follows the section, so
// that sections written one after another can be read in turn. It does
// not allocate; a record's Data aliases b.
func ScanTiming(b []byte, fn func(TimingRecord) bool) (rest []byte, err error) {
	d := timingDecoder{b: b}
	first, count := d.uvarint(), d.uvarint()
	if d.err == nil && count > uint64(len(b)) { // every record takes at least two bytes
		d.fail("count %d is more than the section could hold", count)
	}
	var t, off int64
	stop := false
	for i := uint64(0); i < count && d.err == nil; i++ {
		r, ok := d.record(first+i, t, off)
		if !ok {
			break
		}
		t, off = r.TimeMS, r.Offset
		if !stop && fn != nil {
			stop = !fn(r)
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: timing section: %v", ErrBadMessage, d.err)
	}
	return d.b, nil
}

// TimingSpan returns the first sequence number and record count of the
// section at the start of b, without reading its records.
func TimingSpan(b []byte) (first, count uint64, err error) {
	d := timingDecoder{b: b}
	first, count = d.uvarint(), d.uvarint()
	if d.err != nil {
		return 0, 0, fmt.Errorf("%w: timing section: %v", ErrBadMessage, d.err)
	}
	return first, count, nil
}

type timingDecoder struct {
	b   []byte
	err error
}

func (d *timingDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *timingDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated or overlong number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// record reads one record after the one at time t and offset off.
func (d *timingDecoder) record(seq uint64, t, off int64) (TimingRecord, bool) {
	head, doff := d.uvarint(), d.uvarint()
	r := TimingRecord{Seq: seq, Kind: byte(head & 3)}
	if head>>2 > maxTimingMS || doff > 1<<62 {
		d.fail("record %d: time or offset out of range", seq)
	}
	r.TimeMS, r.Offset = t+int64(head>>2), off+int64(doff)
	if r.TimeMS > maxTimingMS || r.Offset > 1<<62 {
		d.fail("record %d: time or offset out of range", seq)
	}
	switch r.Kind {
	case TimingOutput:
	case TimingResize:
		cols, rows := d.uvarint(), d.uvarint()
		if cols > maxTimingSide || rows > maxTimingSide {
			d.fail("record %d: terminal size %dx%d out of range", seq, cols, rows)
		}
		r.Cols, r.Rows = int(cols), int(rows)
	case TimingInput:
		n := d.uvarint()
		if d.err == nil && n > uint64(len(d.b)) {
			d.fail("record %d: input of %d bytes is longer than the section", seq, n)
		}
		if d.err == nil {
			r.Data, d.b = d.b[:n:n], d.b[n:]
		}
	default:
		d.fail("record %d: unknown kind %d", seq, r.Kind)
	}
	return r, d.err == nil
}

// TimingEvent is a timing record as dashboards receive it (timing.result).
// It is sent as a JSON array: [t, "o", offset], [t, "r", offset, cols,
// rows] or [t, "i", offset, "BASE64"], with t in milliseconds since the
// command started.
type TimingEvent struct {
	TimeMS int64
	Kind   string // "o", "r" or "i"
	Offset int64
	Cols   int
	Rows   int
	Data   []byte
}

// Event kinds of TimingEvent.
const (
	EventOutput = "o"
	EventResize = "r"
	EventInput  = "i"
)

// Event turns a record into the event dashboards receive.
func (r TimingRecord) Event() TimingEvent {
	e := TimingEvent{TimeMS: r.TimeMS, Offset: r.Offset}
	switch r.Kind {
	case TimingResize:
		e.Kind, e.Cols, e.Rows = EventResize, r.Cols, r.Rows
	case TimingInput:
		e.Kind, e.Data = EventInput, r.Data
	default:
		e.Kind = EventOutput
	}
	return e
}

// MarshalJSON writes the event as its array.
func (e TimingEvent) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	b = strconv.AppendInt(b, e.TimeMS, 10)
	kind, err := json.Marshal(e.Kind)
	if err != nil {
		return nil, err
	}
	b = append(append(append(b, ','), kind...), ',')
	b = strconv.AppendInt(b, e.Offset, 10)
	switch e.Kind {
	case EventResize:
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(e.Cols), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(e.Rows), 10)
	case EventInput:
		data, err := json.Marshal(e.Data) // base64, as encoding/json writes []byte
		if err != nil {
			return nil, err
		}
		b = append(b, ',')
		b = append(b, data...)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads the event's array.
func (e *TimingEvent) UnmarshalJSON(b []byte) error {
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil {
		return err
	}
	if len(parts) < 3 {
		return fmt.Errorf("timing event %s: want [t, kind, offset, …]", b)
	}
	*e = TimingEvent{}
	if err := json.Unmarshal(parts[0], &e.TimeMS); err != nil {
		return fmt.Errorf("timing event time: %w", err)
	}
	if err := json.Unmarshal(parts[1], &e.Kind); err != nil {
		return fmt.Errorf("timing event kind: %w", err)
	}
	if err := json.Unmarshal(parts[2], &e.Offset); err != nil {
		return fmt.Errorf("timing event offset: %w", err)
	}
	switch {
	case e.Kind == EventResize && len(parts) >= 5:
		if err := json.Unmarshal(parts[3], &e.Cols); err != nil {
			return fmt.Errorf("timing event cols: %w", err)
		}
		if err := json.Unmarshal(parts[4], &e.Rows); err != nil {
			return fmt.Errorf("timing event rows: %w", err)
		}
	case e.Kind == EventInput && len(parts) >= 4:
		if err := json.Unmarshal(parts[3], &e.Data); err != nil {
			return fmt.Errorf("timing event data: %w", err)
		}
	case e.Kind == EventResize, e.Kind == EventInput:
		return fmt.Errorf("timing event %s: too few fields for kind %q", b, e.Kind)
	}
	return nil
}
