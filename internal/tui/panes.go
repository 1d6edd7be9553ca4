package tui

import (
	"strings"
)

// maxPanes is how many commands are shown at once.
const maxPanes = 4

// rect is a pane's place in the pane area.
type rect struct{ x, y, w, h int }

func (r rect) contains(x, y int) bool {
	return x >= r.x && x < r.x+r.w && y >= r.y && y < r.y+r.h
}

// paneSet lays out one to four panes (one, split, or a grid) and knows
// which has focus.
type paneSet struct {
	c      *common
	panes  []*pane
	focus  int
	zoom   bool
	w, h   int
	rects  []rect // per pane; zero for panes hidden by zoom
	useSeq uint64
}

// SetSize sets the pane area's size.
func (s *paneSet) SetSize(w, h int) {
	s.w, s.h = w, h
	s.layout()
}

// layout assigns each pane its rectangle: one fills the area; two sit side
// by side on wide screens and stacked on narrow ones; three and four make
// a grid whose last row is shared by the panes in it.
func (s *paneSet) layout() {
	n := len(s.panes)
	s.rects = make([]rect, n)
	if n == 0 {
		return
	}
	if s.zoom {
		s.rects[s.focus] = rect{0, 0, s.w, s.h}
		s.panes[s.focus].SetSize(s.w, s.h)
		return
	}
	cols := 1
	if (n >= 2 && s.w >= 100) || (n >= 3 && s.w >= 60) {
		cols = 2
	}
	rows := (n + cols - 1) / cols
	for i, p := range s.panes {
		row, col := i/cols, i%cols
		inRow := min(cols, n-row*cols)
		x0, x1 := s.w*col/inRow, s.w*(col+1)/inRow
		y0, y1 := s.h*row/rows, s.h*(row+1)/rows
		s.rects[i] = rect{x0, y0, x1 - x0, y1 - y0}
		p.SetSize(x1-x0, y1-y0)
	}
}

func (s *paneSet) focused() *pane {
	if s.focus < 0 || s.focus >= len(s.panes) {
		return nil
	}
	return s.panes[s.focus]
}

// find returns the index of the pane showing a command, or -1.
func (s *paneSet) find(id string) int {
	for i, p := range s.panes {
		if p.id == id {
			return i
		}
	}
	return -1
}

// setFocus focuses pane i.
func (s *paneSet) setFocus(i int) {
	if i < 0 || i >= len(s.panes) {
		return
	}
	s.focus = i
	s.useSeq++
	s.panes[i].lastUse = s.useSeq
	if s.zoom {
		s.layout()
	}
}

// add shows p. When all panes are taken it replaces one: the least
// recently used of those whose command is over, else the least recently
// used of all; it returns the replaced pane, for the caller to close and
// name, and where it was.
func (s *paneSet) add(p *pane, live func(id string) bool) (replaced *pane, at int) {
	s.useSeq++
	p.lastUse = s.useSeq
	if len(s.panes) < maxPanes {
		s.panes = append(s.panes, p)
		s.layout()
		return nil, -1
	}
	lru := -1
	for _, endedOnly := range []bool{true, false} {
		for i, q := range s.panes {
			if (!endedOnly || !live(q.id)) && (lru < 0 || q.lastUse < s.panes[lru].lastUse) {
				lru = i
			}
		}
		if lru >= 0 {
			break
		}
	}
	replaced, s.panes[lru] = s.panes[lru], p
	s.layout()
	return replaced, lru
}

// remove takes pane i out of the set and returns it.
func (s *paneSet) remove(i int) *pane {
	p := s.panes[i]
	s.panes = append(s.panes[:i], s.panes[i+1:]...)
	if s.focus >= len(s.panes) {
		s.focus = max(len(s.panes)-1, 0)
	}
	if len(s.panes) <= 1 {
		s.zoom = false
	}
	s.layout()
	return p
}

// at returns the index of the visible pane at (x, y), or -1.
func (s *paneSet) at(x, y int) int {
	for i, r := range s.rects {
		if r.w > 0 && r.contains(x, y) {
			return i
		}
	}
	return -1
}

// View renders the area, exactly w×h, asking draw for each visible pane.
func (s *paneSet) View(draw func(i int, p *pane) []string) []string {
	grid := make([][]string, s.h)
	rowCells := make([]int, s.h)
	for i, p := range s.panes {
		r := s.rects[i]
		if r.w == 0 {
			continue
		}
		lines := draw(i, p)
		for j := 0; j < r.h && r.y+j < s.h; j++ {
			l := strings.Repeat(" ", r.w)
			if j < len(lines) {
				l = lines[j] // panes render exactly r.w wide
			}
			grid[r.y+j] = append(grid[r.y+j], l)
			rowCells[r.y+j] += r.w
		}
	}
	out := make([]string, s.h)
	for y := range out {
		out[y] = strings.Join(grid[y], "") + strings.Repeat(" ", max(s.w-rowCells[y], 0))
	}
	return out
}
