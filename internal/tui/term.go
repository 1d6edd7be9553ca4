package tui

import (
	"bytes"
	"strings"
	"sync"
	"time"

	uv "github.com/charmbracelet/ultraviolet"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/vt"
)

// Emulator tuning. x/vt copies the whole screen on every line feed, so its
// speed depends on the screen size and the line length; feedChunk bounds how
// much one Write may take before the budget is checked again.
const (
	scrollbackLines = 1000 // per pane; vt's default of 10,000 costs a 240 KB memmove per line once full
	minFeedChunk    = 32   // a few short lines can cost a millisecond on a big screen
	maxFeedChunk    = 4 << 10
	// maxLinesPerWrite bounds one Write by line feeds too: each costs a
	// screen copy, so 4 KB of short lines could take 100 ms on a big pane.
	maxLinesPerWrite = 16
	// initialNsPerByte is the parse cost assumed for an 80×24 screen before
	// the first measurement; larger screens scale it up.
	initialNsPerByte = 400
)

// Markers written into the emulator's reply pipe, which the emulator
// itself never fills with NUL bytes: stopMarker ends the reply pump,
// syncMarker only proves it has handled every reply before it.
var (
	stopMarker = []byte("\x00\x00switchboard-stop\x00\x00")
	syncMarker = []byte("\x00\x00switchboard-sync\x00\x00")
)

// term is a pane's terminal emulator. Only the Bubble Tea goroutine touches
// it (Update and View), so it needs no lock; the one exception is the reply
// pump, which only reads the emulator's reply pipe (an io.Pipe, safe for
// that). vt.Emulator.Write blocks until its replies (to DA, DSR and other
// queries) are read, so the pump must run for as long as the term lives.
//
// The pump does not decide where a reply goes: it keeps them, and each
// method that writes to the emulator takes them back (takeReplies) before
// it returns, so the pane knows which bytes asked for each and can send
// only answers to live output (docs/protocol.md, "Input").
type term struct {
	emu       *vt.Emulator
	cols      int
	rows      int
	modes     termModes
	nsPerByte float64 // running estimate of the parse cost
	pumpDone  chan struct{}

	mu      sync.Mutex // guards replies, which the pump appends to
	replies [][]byte
}

// newTerm starts an emulator of cols×rows.
func newTerm(cols, rows int) *term {
	cols, rows = max(cols, 1), max(rows, 1)
	t := &term{emu: vt.NewEmulator(cols, rows), cols: cols, rows: rows, pumpDone: make(chan struct{})}
	t.nsPerByte = initialNsPerByte * float64(cols*rows) / (80 * 24)
	t.emu.SetScrollbackSize(scrollbackLines)
	t.emu.SetCallbacks(vt.Callbacks{
		EnableMode:  func(m ansi.Mode) { t.setMode(m, true) },
		DisableMode: func(m ansi.Mode) { t.setMode(m, false) },
	})
	go t.pump()
	return t
}

func (t *term) setMode(m ansi.Mode, on bool) {
	switch m {
	case ansi.ModeCursorKeys:
		t.modes.appCursor = on
	case ansi.ModeBracketedPaste:
		t.modes.bracketedPaste = on
	}
}

// pump drains the emulator's replies until close, keeping them for
// takeReplies.
func (t *term) pump() {
	defer close(t.pumpDone)
	buf := make([]byte, 4096)
	for {
		n, err := t.emu.Read(buf)
		switch {
		case err != nil || bytes.Equal(buf[:n], stopMarker):
			return
		case n == 0 || bytes.Equal(buf[:n], syncMarker):
			continue
		}
		t.mu.Lock()
		t.replies = append(t.replies, bytes.Clone(buf[:n]))
		t.mu.Unlock()
	}
}

// takeReplies returns the replies to everything written so far. An
// io.Pipe write returns once the reader has taken the bytes, and a read
// never spans two writes: once the sync marker is read, the pump has kept
// every reply written before it.
func (t *term) takeReplies() [][]byte {
	_, _ = t.emu.InputPipe().Write(syncMarker)
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.replies
	t.replies = nil
	return r
}

// close stops the reply pump. The term must not be used afterwards.
func (t *term) close() {
	_, _ = t.emu.InputPipe().Write(stopMarker)
	<-t.pumpDone
}

// write feeds all of p, however long it takes, dropping any replies:
// what it writes is the pane's own (a skip note), never a program's.
func (t *term) write(p []byte) {
	_, _ = t.emu.Write(p)
	t.takeReplies()
}

// feed parses p in chunks until it is consumed or budget has passed, and
// returns how many bytes it parsed and the emulator's replies to them. It
// keeps nsPerByte up to date.
func (t *term) feed(p []byte, budget time.Duration) (int, [][]byte) {
	start := time.Now()
	done := 0
	for done < len(p) {
		left := budget - time.Since(start)
		if left <= 0 {
			break
		}
		n := int(float64(left) / t.nsPerByte)
		n = min(max(n, minFeedChunk), maxFeedChunk, len(p)-done)
		n = cutAfterLines(p[done:done+n], maxLinesPerWrite)
		t0 := time.Now()
		_, _ = t.emu.Write(p[done : done+n])
		t.measure(n, time.Since(t0))
		done += n
	}
	return done, t.takeReplies()
}

// cutAfterLines returns len(p), or less so that p[:n] ends with its
// lines-th line feed.
func cutAfterLines(p []byte, lines int) int {
	off := 0
	for range lines {
		i := bytes.IndexByte(p[off:], '\n')
		if i < 0 {
			return len(p)
		}
		off += i + 1
	}
	return off
}

// measure folds one write's cost into nsPerByte. Small writes are noise,
// and one sample counts at most 4× the estimate, so a write that was
// preempted or hit a GC pause does not make the pane skip for nothing.
func (t *term) measure(n int, d time.Duration) {
	if n < minFeedChunk/2 {
		return
	}
	const weight = 0.2
	sample := min(float64(d)/float64(n), 4*t.nsPerByte)
	t.nsPerByte = max((1-weight)*t.nsPerByte+weight*sample, 1)
}

// cost estimates how long parsing n bytes will take.
func (t *term) cost(n int) time.Duration {
	return time.Duration(float64(n) * t.nsPerByte)
}

// affordable is how many bytes fit in budget at the current rate.
func (t *term) affordable(budget time.Duration) int {
	return int(float64(budget) / t.nsPerByte)
}

// resize changes the emulator's size. The remote program redraws itself if
// it cares; vt does not reflow.
func (t *term) resize(cols, rows int) {
	cols, rows = max(cols, 1), max(rows, 1)
	if cols == t.cols && rows == t.rows {
		return
	}
	t.cols, t.rows = cols, rows
	t.emu.Resize(cols, rows)
	t.takeReplies() // an in-band resize report: the relay's resize already told the program
	t.nsPerByte = max(t.nsPerByte, initialNsPerByte*float64(cols*rows)/(80*24)/4)
}

// altScreen reports whether the program uses the alternate screen (a
// full-screen program); it has no scrollback there.
func (t *term) altScreen() bool { return t.emu.IsAltScreen() }

// maxScroll is how far back the view can scroll.
func (t *term) maxScroll() int {
	if t.altScreen() {
		return 0
	}
	return t.emu.ScrollbackLen()
}

// cursor returns the cursor position on the screen and whether it shows.
func (t *term) cursor() (x, y int, visible bool) {
	p := t.emu.CursorPosition()
	return p.X, p.Y, !t.emu.CursorHidden()
}

// view renders an h-line, w-column window: scroll lines back from the live
// screen (0 follows the output). Each returned line is exactly w cells wide.
// top is the screen row shown first when scroll is 0 (see viewTop).
func (t *term) view(w, h, scroll int) (lines []string, top int) {
	lines = make([]string, 0, h)
	top = t.viewTop(h)
	sb := t.maxScroll()
	scroll = min(max(scroll, 0), sb)
	row := make(uv.Line, w)
	for i := range h {
		y := top + i - scroll // screen row; negative rows come from scrollback
		switch {
		case y < 0:
			lines = append(lines, renderLine(t.emu.Scrollback().Line(sb+y), w))
		case y < t.rows:
			for x := range w {
				row[x] = uv.EmptyCell
				if x < t.cols {
					if c := t.emu.CellAt(x, y); c != nil {
						row[x] = *c
					}
				}
			}
			lines = append(lines, renderLine(row, w))
		default:
			lines = append(lines, strings.Repeat(" ", w))
		}
	}
	return lines, top
}

// viewTop picks the first screen row to show when the screen has more rows
// than the window: the bottom of the screen, unless the cursor is above it.
func (t *term) viewTop(h int) int {
	if t.rows <= h {
		return 0
	}
	_, cy, _ := t.cursor()
	top := t.rows - h
	if cy < top {
		top = max(0, cy-h+1)
	}
	return top
}

// renderLine renders cells as styled text exactly w cells wide.
func renderLine(l uv.Line, w int) string {
	width := 0
	end := 0
	for end < len(l) && width < w {
		cw := l[end].Width
		if width+cw > w {
			break
		}
		width += cw
		end++
	}
	s := l[:end].Render()
	if width < w {
		s += strings.Repeat(" ", w-width)
	}
	return s
}
