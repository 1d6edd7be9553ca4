// Package recording owns what a past command's recording is: its timing
// events laid over its output (Timeline) and the asciicast v2 file it
// exports as (Writer), and its replay (Frames, Player, Clock). It reads what docs/protocol.md ("Recordings") says
// a stored command's timing is, and imports nothing of Switchboard's but
// the wire types.
package recording

import (
	"sort"
	"time"

	"switchboard/internal/wire"
)

// Timeline is when each byte of a command's output was produced. Output
// before the first output event, and all output of a command recorded
// without timing, is at time 0.
type Timeline struct {
	marks   []mark        // output events, times and offsets non-decreasing
	resizes []Resize      // in order
	inputs  []Input       // in order
	end     int64         // output length
	cols    int           // the starting size
	rows    int           // the starting size
	last    int64         // time of the last event, in ms
	idle    time.Duration // the idle limit applied; 0: none
}

type mark struct{ ms, off int64 }

// Resize is a terminal resize at a time, before the output byte at Offset.
type Resize struct {
	MS, Offset int64
	Cols, Rows int
}

// Input is what was typed at a time, before the output byte at Offset.
type Input struct {
	MS, Offset int64
	Data       []byte
}

// NewTimeline lays events (a timing.result's, in order) over output of
// end bytes from a terminal of cols x rows (the command's own size, used
// when the events have no starting size).
func NewTimeline(events []wire.TimingEvent, end int64, cols, rows int) *Timeline {
	tl := &Timeline{end: end, cols: cols, rows: rows}
	var t, off int64
	for i, e := range events {
		// Keep times and offsets from going down, as the agent's clock
		// and the protocol promise; a file made by hand may not.
		t, off = max(t, e.TimeMS), max(off, e.Offset)
		switch e.Kind {
		case wire.EventOutput:
			if n := len(tl.marks); n > 0 && tl.marks[n-1].off == off {
				tl.marks[n-1].ms = max(tl.marks[n-1].ms, t)
			} else {
				tl.marks = append(tl.marks, mark{t, off})
			}
		case wire.EventResize:
			if i == 0 && t == 0 && off == 0 {
				tl.cols, tl.rows = e.Cols, e.Rows // the starting size
				continue
			}
			tl.resizes = append(tl.resizes, Resize{MS: t, Offset: off, Cols: e.Cols, Rows: e.Rows})
		case wire.EventInput:
			tl.inputs = append(tl.inputs, Input{MS: t, Offset: off, Data: e.Data})
		}
		tl.last = t
	}
	return tl
}

// Size is the terminal's starting size.
func (tl *Timeline) Size() (cols, rows int) { return tl.cols, tl.rows }

// End is the output's length.
func (tl *Timeline) End() int64 { return tl.end }

// Duration is the time of the last event.
func (tl *Timeline) Duration() time.Duration { return ms(tl.last) }

// Resizes lists the resizes after the start, in order.
func (tl *Timeline) Resizes() []Resize { return tl.resizes }

// Inputs lists what was typed, in order.
func (tl *Timeline) Inputs() []Input { return tl.inputs }

// TimeAt is when the output byte at off was produced.
func (tl *Timeline) TimeAt(off int64) time.Duration {
	i := sort.Search(len(tl.marks), func(i int) bool { return tl.marks[i].off > off })
	if i == 0 {
		return 0
	}
	return ms(tl.marks[i-1].ms)
}

// OffsetAt is how much output had been produced by time d: the offset of
// the first byte produced after it.
func (tl *Timeline) OffsetAt(d time.Duration) int64 {
	t := d.Milliseconds()
	i := sort.Search(len(tl.marks), func(i int) bool { return tl.marks[i].ms > t })
	if i == len(tl.marks) {
		return tl.end
	}
	return min(tl.marks[i].off, tl.end)
}

// NextAfter is the time of the first event after d, and false when none
// follows.
func (tl *Timeline) NextAfter(d time.Duration) (time.Duration, bool) {
	t := d.Milliseconds()
	next := int64(-1)
	consider := func(at int64) {
		if at > t && (next < 0 || at < next) {
			next = at
		}
	}
	if i := sort.Search(len(tl.marks), func(i int) bool { return tl.marks[i].ms > t }); i < len(tl.marks) {
		consider(tl.marks[i].ms)
	}
	if i := sort.Search(len(tl.resizes), func(i int) bool { return tl.resizes[i].MS > t }); i < len(tl.resizes) {
		consider(tl.resizes[i].MS)
	}
	if next < 0 {
		return 0, false
	}
	return ms(next), true
}

// WithIdleLimit returns the timeline with every pause between events
// longer than limit cut to limit, as asciinema's idle time limit does;
// limit 0 returns it unchanged.
func (tl *Timeline) WithIdleLimit(limit time.Duration) *Timeline {
	if limit <= 0 {
		return tl
	}
	lim := limit.Milliseconds()
	// Every event time, in order, and what it maps to.
	var times []int64
	for _, m := range tl.marks {
		times = append(times, m.ms)
	}
	for _, r := range tl.resizes {
		times = append(times, r.MS)
	}
	for _, in := range tl.inputs {
		times = append(times, in.MS)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	mapped := make(map[int64]int64, len(times))
	var prev, cut int64
	for _, t := range times {
		if gap := t - prev; gap > lim {
			cut += gap - lim
		}
		mapped[t] = t - cut
		prev = t
	}
	out := *tl
	out.idle = limit
	out.marks = make([]mark, len(tl.marks))
	for i, m := range tl.marks {
		out.marks[i] = mark{mapped[m.ms], m.off}
	}
	out.resizes = make([]Resize, len(tl.resizes))
	for i, r := range tl.resizes {
		r.MS = mapped[r.MS]
		out.resizes[i] = r
	}
	out.inputs = make([]Input, len(tl.inputs))
	for i, in := range tl.inputs {
		in.MS = mapped[in.MS]
		out.inputs[i] = in
	}
	out.last = mapped[tl.last]
	return &out
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
