package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	uv "github.com/charmbracelet/ultraviolet"

	"switchboard/internal/safetext"
)

// paneFind searches a pane's scrollback and screen, as tmux's copy mode
// does: f starts it, a query is typed, enter finds the match nearest
// above the bottom of the view, n goes to the next older match and N to
// the next newer, each scrolled into view and highlighted, esc leaves
// (and the pane follows its output again). Lines are numbered from the
// oldest line of scrollback; matches are found again at every jump, so
// a live pane's new output is searched too.
type paneFind struct {
	p      *pane
	typing bool
	query  string
	cur    findMatch // the match jumped to; line -1: none
	count  int       // matches at the last search
	index  int       // cur's number among them, from the newest (1-based)
}

// findMatch is where a match is: an absolute line, and its cells.
type findMatch struct{ line, col, width int }

func newPaneFind(p *pane) *paneFind {
	return &paneFind{p: p, typing: true, cur: findMatch{line: -1}}
}

// key handles a key while the pane's find is open; it reports false when
// the find has ended.
func (f *paneFind) key(msg tea.KeyPressMsg) bool {
	if f.typing {
		switch msg.String() {
		case "esc":
			return f.leave()
		case "enter":
			f.typing, f.cur = false, findMatch{line: -1}
			f.jump(1)
		case "backspace":
			if r := []rune(f.query); len(r) > 0 {
				f.query = string(r[:len(r)-1])
			}
		default:
			f.query += msg.Text
		}
		return true
	}
	switch msg.String() {
	case "esc", "q":
		return f.leave()
	case "n", "enter":
		f.jump(1)
	case "N":
		f.jump(-1)
	case "f", "/":
		f.typing, f.query = true, ""
	}
	return true
}

// leave ends the find: the pane follows its output, unmarked.
func (f *paneFind) leave() bool {
	f.p.find = nil
	f.p.scrollToBottom()
	return false
}

// jump moves to the next older (dir 1) or newer (-1) match, and from no
// match yet, to the newest one above the view's bottom.
func (f *paneFind) jump(dir int) {
	all := f.matches()
	f.count = len(all)
	f.p.dirty = true
	if len(all) == 0 {
		f.cur = findMatch{line: -1}
		return
	}
	from := f.cur
	if from.line < 0 {
		from = findMatch{line: f.viewBottom() + 1}
	}
	// all is in reading order; older is earlier.
	pick := -1
	if dir > 0 {
		for i := len(all) - 1; i >= 0; i-- {
			if before(all[i], from) {
				pick = i
				break
			}
		}
		if pick < 0 {
			pick = len(all) - 1 // wrap to the newest
		}
	} else {
		for i, m := range all {
			if before(from, m) {
				pick = i
				break
			}
		}
		if pick < 0 {
			pick = 0 // wrap to the oldest
		}
	}
	f.cur, f.index = all[pick], len(all)-pick
	f.show(f.cur.line)
}

func before(a, b findMatch) bool { return a.line < b.line || (a.line == b.line && a.col < b.col) }

// viewBottom is the absolute line shown last in the pane.
func (f *paneFind) viewBottom() int {
	_, h := f.p.content()
	return f.absLine(h - 1)
}

// absLine is the absolute line the pane shows on view row i.
func (f *paneFind) absLine(i int) int {
	_, h := f.p.content()
	t := f.p.t
	return t.maxScroll() + t.viewTop(h) + i - min(f.p.scroll, t.maxScroll())
}

// show scrolls the pane so that absolute line is in its middle.
func (f *paneFind) show(line int) {
	_, h := f.p.content()
	t := f.p.t
	f.p.scroll = min(max(t.maxScroll()+t.viewTop(h)+h/2-line, 0), t.maxScroll())
	f.p.dirty = true
}

// matches lists the query's matches in the pane's lines, in reading
// order, ignoring case.
func (f *paneFind) matches() []findMatch {
	q := strings.ToLower(f.query)
	if q == "" {
		return nil
	}
	var all []findMatch
	t := f.p.t
	for line := range t.maxScroll() + t.rows {
		all = append(all, matchLine(t.lineAt(line), line, q)...)
	}
	return all
}

// matchLine finds q (lower case) in a line of cells.
func matchLine(l uv.Line, line int, q string) []findMatch {
	var text strings.Builder
	var cellOf []int // the cell of each byte of text
	for x, c := range l {
		if c.Width == 0 && c.Content == "" {
			continue // the rest of a wide character
		}
		s := strings.ToLower(c.Content)
		if s == "" {
			s = " "
		}
		text.WriteString(s)
		for range len(s) {
			cellOf = append(cellOf, x)
		}
	}
	var out []findMatch
	s := text.String()
	for off := 0; ; {
		i := strings.Index(s[off:], q)
		if i < 0 {
			return out
		}
		start, end := cellOf[off+i], cellOf[off+i+len(q)-1]
		out = append(out, findMatch{line: line, col: start, width: end - start + max(l[end].Width, 1)})
		off += i + len(q)
	}
}

// lineAt is absolute line n: scrollback, then the screen.
func (t *term) lineAt(n int) uv.Line {
	sb := t.maxScroll()
	if n < sb {
		return t.emu.Scrollback().Line(n)
	}
	l := make(uv.Line, t.cols)
	for x := range l {
		l[x] = uv.EmptyCell
		if c := t.emu.CellAt(x, n-sb); c != nil {
			l[x] = *c
		}
	}
	return l
}

// mark redraws the view rows that hold matches with the matches in
// reverse video, the one jumped to also underlined.
func (f *paneFind) mark(lines []string) {
	if f.typing && f.cur.line < 0 {
		return
	}
	w, _ := f.p.content()
	markMatches(f.p.t, lines, w, f.query, f.cur, f.absLine)
}

// markMatches redraws the rows of lines (w cells wide; row i shows
// absolute line absLine(i) of t) that hold q, ignoring case, with each
// match in reverse video and cur also underlined.
func markMatches(t *term, lines []string, w int, q string, cur findMatch, absLine func(i int) int) {
	q = strings.ToLower(q)
	if q == "" {
		return
	}
	for i := range lines {
		abs := absLine(i)
		if abs < 0 || abs >= t.maxScroll()+t.rows {
			continue
		}
		l := t.lineAt(abs)
		found := matchLine(l, abs, q)
		if len(found) == 0 {
			continue
		}
		l = append(uv.Line(nil), l...)
		for _, m := range found {
			for x := m.col; x < m.col+m.width && x < len(l); x++ {
				l[x].Style.Attrs |= uv.AttrReverse
				if m == cur {
					l[x].Style.Underline = uv.UnderlineSingle
				}
			}
		}
		lines[i] = renderLine(l, w)
	}
}

// line is the find's prompt, or where it stands, for the command bar.
func (f *paneFind) line(num, width int, st styles) string {
	if f.typing {
		return padTo(st.barPrompt.Render(fmt.Sprintf(" find in pane %d: ", num))+safetext.Escape(f.query)+"▏"+
			st.faint.Render("  enter finds · esc leaves"), width)
	}
	where := "no match"
	if f.cur.line >= 0 {
		where = fmt.Sprintf("match %d of %d", f.index, f.count)
	}
	return padTo(st.barPrompt.Render(fmt.Sprintf(" find in pane %d: ", num))+safetext.Escape(f.query)+"  "+
		st.info.Render(where)+st.faint.Render("  n older · N newer · f new search · esc leaves"), width)
}

// findKey gives a key to the focused pane's find, when one is open and
// the panes have the keyboard; scrolling keys still scroll. It reports
// whether the find took the key.
func (m *Model) findKey(msg tea.KeyPressMsg) bool {
	p := m.panes.focused()
	if p == nil || p.find == nil || m.focus != focusPanes {
		return false
	}
	k := m.c.keys
	if !p.find.typing && key.Matches(msg, k.ScrollUp, k.ScrollDown, k.PageUp, k.PageDown) {
		return false
	}
	p.find.key(msg)
	p.dirty = true
	return true
}
