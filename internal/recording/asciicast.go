package recording

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"switchboard/internal/wire"
)

// Asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a JSON
// header line, then one JSON array per event, [time, code, data], with
// time in seconds since the start.
//
// Event data is text, and terminal output is bytes. The writer keeps the
// bytes of a character that a read cut in two until its last byte, so
// every character of valid UTF-8 output reaches the file whole and
// `asciinema cat` prints the output's bytes exactly. A byte that is not
// part of valid UTF-8 (binary output, another encoding) has no text form:
// it is written as U+FFFD, one for each such byte, as asciinema's own
// recorder does.

// Header is what an asciicast's first line says of the recording.
type Header struct {
	Width, Height int
	Timestamp     time.Time     // when the command started; zero: left out
	Duration      time.Duration // zero: left out
	IdleTimeLimit time.Duration // zero: left out
	Command       string
	Title         string
	Term          string // the terminal type the command ran under (env TERM)
}

// maxEvent is the most output one "o" event carries; more at the same
// time goes in several.
const maxEvent = 64 << 10

// Writer writes a command's recording as asciicast v2: its timeline's
// events in order, with its output fed to Output in offset order.
type Writer struct {
	w     *bufio.Writer
	tl    *Timeline
	input bool // write "i" events

	pos    int64 // offset of the next output byte
	mi     int   // next output mark
	ri, ii int   // next resize, next input
	t      int64 // time of the output at pos, in ms
	last   int64 // time of the last event written: times never go down
	pend   []byte
	pendT  int64
	carry  []byte // the start of a character cut off at the end of the last "o" event
	err    error
}

// NewWriter writes h and returns a Writer for the rest; with input, what
// was typed is written as "i" events.
func NewWriter(w io.Writer, h Header, tl *Timeline, input bool) (*Writer, error) {
	aw := &Writer{w: bufio.NewWriterSize(w, 64<<10), tl: tl, input: input}
	head := struct {
		Version       int               `json:"version"`
		Width         int               `json:"width"`
		Height        int               `json:"height"`
		Timestamp     int64             `json:"timestamp,omitempty"`
		Duration      float64           `json:"duration,omitempty"`
		IdleTimeLimit float64           `json:"idle_time_limit,omitempty"`
		Command       string            `json:"command,omitempty"`
		Title         string            `json:"title,omitempty"`
		Env           map[string]string `json:"env,omitempty"`
	}{Version: 2, Width: h.Width, Height: h.Height, Duration: h.Duration.Seconds(),
		IdleTimeLimit: h.IdleTimeLimit.Seconds(), Command: h.Command, Title: h.Title}
	if !h.Timestamp.IsZero() {
		head.Timestamp = h.Timestamp.Unix()
	}
	if h.Term != "" {
		head.Env = map[string]string{"TERM": h.Term}
	}
	enc := json.NewEncoder(aw.w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(head); err != nil { // Encode ends the line
		return nil, fmt.Errorf("write asciicast header: %w", err)
	}
	return aw, nil
}

// Output writes the output at off, the offset after what came before
// unless bytes were lost in between.
func (w *Writer) Output(off int64, data []byte) error {
	if off > w.pos {
		w.pos = off // a gap: bytes the agent lost
	}
	if skip := w.pos - off; skip > 0 {
		data = data[min(skip, int64(len(data))):]
	}
	for len(data) > 0 && w.err == nil {
		w.eventsAt(w.pos)
		n := min(int64(len(data)), w.nextEvent()-w.pos)
		w.pending(data[:n])
		data, w.pos = data[n:], w.pos+n
	}
	return w.err
}

// Close writes what is left: pending output, and events after the last
// byte of output. It does not close the underlying writer.
func (w *Writer) Close() error {
	w.eventsAt(1 << 62)
	w.flush(true)
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

// nextEvent is the offset of the next event after pos.
func (w *Writer) nextEvent() int64 {
	next := int64(1 << 62)
	if w.mi < len(w.tl.marks) {
		next = min(next, w.tl.marks[w.mi].off)
	}
	if w.ri < len(w.tl.resizes) {
		next = min(next, w.tl.resizes[w.ri].Offset)
	}
	if w.ii < len(w.tl.inputs) {
		next = min(next, w.tl.inputs[w.ii].Offset)
	}
	return next
}

// eventsAt applies every event at or before offset pos, in time order.
func (w *Writer) eventsAt(pos int64) {
	for {
		kind, at := byte(0), int64(1<<62)
		if w.mi < len(w.tl.marks) && w.tl.marks[w.mi].off <= pos {
			kind, at = 'o', w.tl.marks[w.mi].ms
		}
		if w.ri < len(w.tl.resizes) && w.tl.resizes[w.ri].Offset <= pos && w.tl.resizes[w.ri].MS < at {
			kind, at = 'r', w.tl.resizes[w.ri].MS
		}
		if w.ii < len(w.tl.inputs) && w.tl.inputs[w.ii].Offset <= pos && w.tl.inputs[w.ii].MS < at {
			kind, at = 'i', w.tl.inputs[w.ii].MS
		}
		switch kind {
		case 0:
			return
		case 'o':
			w.t = max(w.t, at)
			w.mi++
		case 'r':
			r := w.tl.resizes[w.ri]
			w.ri++
			w.flush(false)
			w.event(at, "r", []byte(fmt.Sprintf("%dx%d", r.Cols, r.Rows)))
		case 'i':
			in := w.tl.inputs[w.ii]
			w.ii++
			if w.input {
				w.flush(false)
				w.event(at, "i", in.Data)
			}
		}
	}
}

// pending adds output produced at w.t to the "o" event being gathered.
func (w *Writer) pending(b []byte) {
	if len(w.pend) > 0 && (w.pendT != w.t || len(w.pend) >= maxEvent) {
		w.flush(false)
	}
	if len(w.pend) == 0 {
		w.pendT = w.t
	}
	w.pend = append(w.pend, b...)
}

// flush writes the gathered output as an "o" event, keeping back the
// start of a character cut off at its end, unless final.
func (w *Writer) flush(final bool) {
	b := append(w.carry, w.pend...)
	w.pend, w.carry = w.pend[:0], nil
	if !final {
		if cut := incompleteTail(b); cut > 0 {
			w.carry = append([]byte(nil), b[len(b)-cut:]...)
			b = b[:len(b)-cut]
		}
	}
	if len(b) > 0 {
		w.event(w.pendT, "o", b)
	}
}

// incompleteTail is how many bytes at the end of b begin a UTF-8
// character that more bytes could still complete (0 to 3). A start that
// no bytes could make valid (a stray continuation byte, an overlong or
// surrogate form) is not kept back: it is written as U+FFFD at once.
func incompleteTail(b []byte) int {
	for n := 1; n <= 3 && n <= len(b); n++ {
		tail := b[len(b)-n:]
		if !utf8.RuneStart(tail[0]) {
			continue // a continuation byte: look further back for its lead
		}
		if tail[0] < 0x80 || utf8.FullRune(tail) {
			return 0
		}
		for _, fill := range []byte{0x80, 0xBF} {
			full := append(append(make([]byte, 0, 4), tail...), fill, fill, fill)
			if r, size := utf8.DecodeRune(full); r != utf8.RuneError && size > n {
				return n
			}
		}
		return 0
	}
	return 0
}

// event writes [time, code, data] with data as JSON text, each byte that
// is not part of valid UTF-8 as U+FFFD.
func (w *Writer) event(ms int64, code string, data []byte) {
	if w.err != nil {
		return
	}
	ms = max(ms, w.last)
	w.last = ms
	b := w.w.AvailableBuffer()
	b = append(b, '[')
	b = strconv.AppendFloat(b, float64(ms)/1000, 'f', 3, 64)
	b = append(b, `, "`...)
	b = append(b, code...)
	b = append(b, `", `...)
	b = appendJSONText(b, data)
	b = append(b, "]\n"...)
	_, w.err = w.w.Write(b)
}

// appendJSONText appends data as a JSON string.
func appendJSONText(b, data []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for len(data) > 0 {
		r, n := utf8.DecodeRune(data)
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, "\uFFFD"...)
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r < 0x20 || r == 0x7f:
			b = append(b, '\\', 'u', '0', '0', hex[r>>4], hex[r&15])
		default:
			b = append(b, data[:n]...)
		}
		data = data[n:]
	}
	return append(b, '"')
}

// HeaderOf is the header of command c's recording: its starting size
// from the timeline, when it started, what it ran, and the terminal type
// it ran under (the agent sets xterm-256color unless the command's
// environment says otherwise).
func HeaderOf(c wire.Command, tl *Timeline) Header {
	cols, rows := tl.Size()
	h := Header{Width: cols, Height: rows, Timestamp: c.StartedAt, Command: CommandLine(c.CommandSpec),
		Duration: time.Duration(c.DurationMS) * time.Millisecond, Term: "xterm-256color"}
	if h.Timestamp.IsZero() {
		h.Timestamp = c.CreatedAt
	}
	if t := c.Env["TERM"]; t != "" {
		h.Term = t
	}
	h.Title = c.AgentName + ": " + h.Command
	return h
}

// CommandLine is a command as a person would type it: its shell text, or
// its arguments joined by spaces.
func CommandLine(s wire.CommandSpec) string {
	if s.Shell != "" {
		return s.Shell
	}
	return strings.Join(s.Argv, " ")
}

// Starting size of a command's terminal when nothing says otherwise, as
// the agent starts it.
const (
	DefaultCols = 80
	DefaultRows = 24
)

// TimelineOf lays a command's timing events over its output.
func TimelineOf(c wire.Command, events []wire.TimingEvent) *Timeline {
	cols, rows := c.Cols, c.Rows
	if cols <= 0 {
		cols = DefaultCols
	}
	if rows <= 0 {
		rows = DefaultRows
	}
	return NewTimeline(events, c.OutputBytes, cols, rows)
}
