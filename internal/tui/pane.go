package tui

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"switchboard/internal/safetext"
	"switchboard/internal/status"
	"switchboard/internal/wire"
)

// pane shows one command's output through its own terminal emulator.
//
// The fast path: output is appended to the command's stream as it arrives
// (cheap, never parsed there). On each frame the pane parses what is
// pending within a time budget. When the pending bytes would take more
// than two budgets to parse, the pane skips ahead: it keeps only a tail
// that fits one budget (at most a screenful of lines, starting at a line
// boundary or a screen clear), marks the gap in the output, and parses
// that. So the newest output is always on screen within a couple of
// frames, however fast it comes, and the UI keeps answering keys.
type pane struct {
	c     *common
	id    string // command id
	st    *stream
	t     *term
	reply func([]byte) // sends the emulator's answers to the command's terminal
	// answerFrom is where live output began when the user took the
	// keyboard (interactive mode), -1 otherwise: only queries from there
	// on are answered, never those in replayed or watched output.
	answerFrom int64
	fed        int64 // offset of the next byte to parse
	skipped    int64 // bytes never parsed, in total
	scroll     int   // lines back from the live screen; 0 follows output
	w, h       int   // outer size, border included
	lines      []string
	top        int // first screen row shown (when the screen is taller than the pane)
	dirty      bool
	lastUse    uint64 // for choosing which pane a new one replaces
	// find, when set, is a search in the pane's lines (find.go).
	find *paneFind
}

// newPane opens a pane on a command. reply delivers the emulator's answers
// to queries in live output while the pane is interactive.
func newPane(c *common, cmd wire.Command, st *stream, reply func([]byte)) *pane {
	cols, rows := cmd.Cols, cmd.Rows
	if cols <= 0 {
		cols = 80
	}
	if rows <= 0 {
		rows = 24
	}
	return &pane{c: c, id: cmd.ID, st: st, reply: reply, answerFrom: -1, t: newTerm(cols, rows), fed: st.start, dirty: true}
}

// answer makes the pane answer queries in output that arrives from now
// on (on), or none (off). A replay still on its way is not live either.
func (p *pane) answer(on bool) {
	p.answerFrom = -1
	if on {
		p.answerFrom = max(p.st.next, p.st.liveFrom)
	}
}

func (p *pane) close() { p.t.close() }

// SetSize sets the pane's outer size, border included.
func (p *pane) SetSize(w, h int) {
	if w != p.w || h != p.h {
		p.w, p.h = w, h
		p.dirty = true
	}
}

// content is the size inside the border.
func (p *pane) content() (w, h int) { return max(p.w-2, 1), max(p.h-2, 1) }

func (p *pane) pending() int64 { return p.st.next - p.fed }

// step parses pending output within budget, skipping ahead if it is too
// far behind. It reports whether the screen changed.
func (p *pane) step(budget time.Duration) bool {
	data, at := p.st.from(p.fed)
	skip := at - p.fed // bytes the stream no longer holds
	if len(data) > 0 && p.t.cost(len(data)) > 2*budget {
		cut := tailCut(data, p.t.affordable(budget), p.t.rows+2)
		skip += int64(cut)
		data = data[cut:]
	}
	if skip > 0 {
		p.markSkip(skip)
		p.fed += skip
	}
	if len(data) == 0 {
		return skip > 0
	}
	live := p.answerFrom >= 0 && p.fed >= p.answerFrom
	if p.answerFrom > p.fed && p.answerFrom < p.fed+int64(len(data)) {
		data = data[:p.answerFrom-p.fed] // history first; the next step answers what follows
	}
	n, replies := p.t.feed(data, budget)
	p.fed += int64(n)
	p.dirty = true
	if live && p.reply != nil {
		for _, r := range replies {
			p.reply(r)
		}
	}
	return true
}

// markSkip notes n bytes that will never be parsed and, on the normal
// screen, leaves a line in the output saying so.
func (p *pane) markSkip(n int64) {
	p.skipped += n
	p.dirty = true
	if p.t.altScreen() {
		return
	}
	var b bytes.Buffer
	b.WriteString("\x18\x1b[0m") // CAN ends any sequence cut in half
	if x, _, _ := p.t.cursor(); x != 0 {
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "\x1b[2m··· skipped %s of output ···\x1b[0m\r\n", byteSize(n))
	p.t.write(b.Bytes())
}

// tailCut returns how many leading bytes of data to drop so that what is
// left costs at most maxBytes and maxLines lines. It starts the tail at a
// screen clear when there is one in it, else just after a line feed.
func tailCut(data []byte, maxBytes, maxLines int) int {
	maxBytes = max(maxBytes, minFeedChunk)
	start := max(len(data)-maxBytes, 0)
	lines := 0
	for i := len(data) - 1; i >= start; i-- {
		if data[i] == '\n' {
			lines++
			if lines > maxLines {
				start = i + 1
				break
			}
		}
	}
	if j := lastClear(data[start:]); j >= 0 {
		return start + j
	}
	if start == 0 {
		return 0
	}
	if i := bytes.IndexByte(data[start-1:], '\n'); i >= 0 && start+i < len(data) {
		return start + i
	}
	return start
}

// lastClear finds the last full-screen clear or reset in data, or -1.
func lastClear(data []byte) int {
	best := -1
	for _, seq := range []string{"\x1b[H\x1b[2J", "\x1b[2J", "\x1bc", "\x1b[?1049h"} {
		if i := bytes.LastIndex(data, []byte(seq)); i > best {
			best = i
			if seq == "\x1b[2J" && i >= 3 && string(data[i-3:i]) == "\x1b[H" {
				best = i - 3
			}
		}
	}
	return best
}

// render refreshes the cached content lines if anything changed.
func (p *pane) render() {
	if !p.dirty && p.lines != nil {
		return
	}
	w, h := p.content()
	p.scroll = min(p.scroll, p.t.maxScroll())
	p.lines, p.top = p.t.view(w, h, p.scroll)
	if p.find != nil {
		p.find.mark(p.lines)
	}
	p.dirty = false
}

func (p *pane) scrollBy(n int) {
	p.scroll = min(max(p.scroll+n, 0), p.t.maxScroll())
	p.dirty = true
}

func (p *pane) scrollToTop()    { p.scrollBy(p.t.maxScroll()) }
func (p *pane) scrollToBottom() { p.scrollBy(-p.scroll) }

// resizeRemote sizes the emulator to the pane; the caller tells the relay.
func (p *pane) fitEmulator() (cols, rows int, changed bool) {
	w, h := p.content()
	if w == p.t.cols && h == p.t.rows {
		return w, h, false
	}
	p.t.resize(w, h)
	p.dirty = true
	return w, h, true
}

// paneView is what the pane needs from the root to draw its frame.
type paneView struct {
	num         int
	cmd         wire.Command
	focused     bool
	interactive bool
	waiting     bool
	now         time.Time
}

// View renders the pane with its border, exactly w×h.
func (p *pane) View(v paneView) []string {
	p.render()
	st := p.c.st
	w, _ := p.content()
	border, bs := roundBorder, st.border
	switch {
	case v.interactive:
		border, bs = doubleBorder, st.borderInteractive
	case v.focused:
		bs = st.borderFocus
	case v.waiting:
		bs = st.waiting
	}
	out := make([]string, 0, p.h)
	out = append(out, p.topBorder(v, border, bs, w))
	side := bs.Render(border.side)
	for _, l := range p.lines {
		out = append(out, side+l+side)
	}
	out = append(out, p.bottomBorder(v, border, bs, w))
	return out
}

type borderSet struct{ tl, tr, bl, br, h, side string }

var (
	roundBorder  = borderSet{"╭", "╮", "╰", "╯", "─", "│"}
	doubleBorder = borderSet{"╔", "╗", "╚", "╝", "═", "║"}
)

// topBorder carries the title: pane number, agent, command, and state.
// On a narrow pane the agent's name outranks the timer: the state gives
// up its duration, then its word, before the name is cut; the corners
// always stay.
func (p *pane) topBorder(v paneView, b borderSet, bs lipgloss.Style, w int) string {
	st := p.c.st
	agent := v.cmd.AgentName
	if agent == "" {
		agent = v.cmd.AgentID
	}
	titleStyle := st.title
	if v.focused {
		titleStyle = st.titleFocus
	}
	num := fmt.Sprint(v.num)
	var state string
	room := 0
	for _, s := range stateLabels(st, v) {
		state = s
		room = w - ansiWidth(state) - 8 - len(num) // corners, spaces and one fill cell
		if room >= ansiWidth(agent)+4 {
			break // the name whole, and a start of the command
		}
	}
	title := truncate(safetext.Escape(agent+" · "+paneTitle(v.cmd)), max(room, 0))
	left := bs.Render(b.tl+b.h) + " " + titleStyle.Render(strings.TrimSpace(num+" "+title)) + " "
	right := " " + state + " " + bs.Render(b.h+b.tr)
	fill := w + 2 - ansiWidth(left) - ansiWidth(right)
	if fill < 0 {
		return padTo(left, w+2-ansiWidth(right)) + right
	}
	return left + bs.Render(strings.Repeat(b.h, fill)) + right
}

// stateLabels are a pane's state, each shorter than the one before: with
// its duration, without it, and its symbol alone.
func stateLabels(st styles, v paneView) []string {
	look := status.Command(v.cmd, v.waiting)
	badge := func(full bool) string {
		switch {
		case !v.interactive:
			return ""
		case full:
			return st.interactiveBadge.Render(" ⌨ INTERACTIVE ") + " "
		}
		return st.interactiveBadge.Render("⌨") + " "
	}
	tone := st.tone(look.Tone)
	return []string{
		badge(true) + stateLabel(st, v.cmd, v.waiting, v.now),
		badge(true) + tone.Render(look.String()),
		badge(false) + tone.Render(look.String()),
		badge(false) + tone.Render(look.Symbol),
	}
}

// bottomBorder carries scroll position, skipped output and the
// interactive-mode reminder.
func (p *pane) bottomBorder(v paneView, b borderSet, bs lipgloss.Style, w int) string {
	st := p.c.st
	var notes []string
	switch {
	case v.interactive:
		notes = append(notes, st.borderInteractive.Render("keys go to the process · ctrl+] gives them back"))
	case p.scroll > 0:
		notes = append(notes, st.warn.Render(fmt.Sprintf("↑ %d lines back · G follows", p.scroll)))
	}
	if p.skipped > 0 {
		notes = append(notes, st.faint.Render("skipped "+byteSize(p.skipped)))
	}
	note := strings.Join(notes, st.faint.Render(" · "))
	if note != "" {
		note = " " + note + " "
	}
	fill := w - ansiWidth(note) - 1
	if fill < 0 {
		return bs.Render(b.bl + strings.Repeat(b.h, w) + b.br)
	}
	return bs.Render(b.bl+b.h) + note + bs.Render(strings.Repeat(b.h, fill)+b.br)
}

// cursor is the remote program's cursor on screen, relative to the pane's
// top-left corner, or nil when it is not visible in the pane.
func (p *pane) cursor() *tea.Cursor {
	x, y, visible := p.t.cursor()
	w, h := p.content()
	y -= p.top
	if !visible || p.scroll > 0 || x >= w || y < 0 || y >= h {
		return nil
	}
	c := tea.NewCursor(x+1, y+1)
	c.Blink = false
	return c
}

// stateLabel is a command's state as its status look, with how long it
// has run or took, e.g. "✓ exit 0 · 3.2s".
func stateLabel(st styles, c wire.Command, waiting bool, now time.Time) string {
	look := status.Command(c, waiting)
	dur := ""
	switch {
	case c.State == wire.StateRunning && !c.StartedAt.IsZero():
		dur = " " + short(now.Sub(c.StartedAt))
	case c.State.Final() && c.DurationMS > 0:
		dur = " · " + short(time.Duration(c.DurationMS)*time.Millisecond)
	}
	return st.tone(look.Tone).Render(look.String() + dur)
}

// byteSize renders a byte count: 512 B, 12.3 KB, 4.5 MB.
func byteSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
}
