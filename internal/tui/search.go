package tui

import (
	"context"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"switchboard/internal/safetext"
	"switchboard/internal/wire"
)

// searchLimit is how many lines the search view asks for.
const searchLimit = 100

// Messages of the search view.
type (
	// searchMsg carries the relay's answer to a search.
	searchMsg struct {
		query string
		res   *wire.SearchResult
		err   error
	}
	// closeSearchMsg: the search view was dismissed.
	closeSearchMsg struct{}
	// openHitMsg: open the hit's command in a pane, at the hit.
	openHitMsg struct {
		cmd wire.Command
		hit wire.SearchHit
	}
)

// searchView finds lines of stored output across every command the
// token may see (S): a query is typed, enter asks the relay, and enter on
// a result opens its command in a pane at the line (seekHits).
type searchView struct {
	c       *common
	b       Backend
	query   string
	typing  bool
	asked   string // the query of the results shown
	hits    []wire.SearchHit
	loading bool
	err     error
	cursor  int
	top     int
	w, h    int
}

func newSearchView(c *common, b Backend) *searchView { return &searchView{c: c, b: b, typing: true} }

// SetSize sets the size of the area the view floats over.
func (s *searchView) SetSize(w, h int) {
	s.w = min(max(w-4, 20), 120)
	s.h = min(max(h-2, 6), 30)
	s.clamp()
}

func (s *searchView) rowsVisible() int { return max(s.h-5, 1) }

func (s *searchView) clamp() {
	s.cursor = min(max(s.cursor, 0), max(len(s.hits)-1, 0))
	s.top = min(s.top, s.cursor)
	if n := s.rowsVisible(); s.cursor >= s.top+n {
		s.top = s.cursor - n + 1
	}
}

// loaded takes the relay's answer to the latest query.
func (s *searchView) loaded(m searchMsg) {
	if m.query != s.asked {
		return
	}
	s.loading, s.err, s.hits, s.cursor, s.top = false, m.err, nil, 0, 0
	if m.res != nil {
		s.hits = m.res.Hits
	}
}

// Update handles a key while the view is open.
func (s *searchView) Update(msg tea.KeyPressMsg) tea.Cmd {
	k := s.c.keys
	if s.typing {
		switch msg.String() {
		case "esc":
			return func() tea.Msg { return closeSearchMsg{} }
		case "enter":
			return s.ask()
		case "backspace":
			if r := []rune(s.query); len(r) > 0 {
				s.query = string(r[:len(r)-1])
			}
		case "down", "tab":
			s.typing = len(s.hits) == 0
		default:
			s.query += msg.Text
		}
		return nil
	}
	switch {
	case key.Matches(msg, k.Back), msg.String() == "q":
		return func() tea.Msg { return closeSearchMsg{} }
	case msg.String() == "/", msg.String() == "S", msg.String() == "tab":
		s.typing = true
	case key.Matches(msg, k.Open):
		if s.cursor < len(s.hits) {
			return s.open(s.hits[s.cursor])
		}
	case key.Matches(msg, k.Up):
		if s.cursor == 0 {
			s.typing = true
		}
		s.cursor--
	case key.Matches(msg, k.Down):
		s.cursor++
	case msg.String() == "pgup":
		s.cursor -= s.rowsVisible()
	case msg.String() == "pgdown":
		s.cursor += s.rowsVisible()
	}
	s.clamp()
	return nil
}

// ask sends the typed query.
func (s *searchView) ask() tea.Cmd {
	q := strings.TrimSpace(s.query)
	if q == "" {
		return nil
	}
	s.asked, s.loading, s.typing = q, true, false
	b := s.b
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		res, err := b.Search(ctx, wire.SearchQuery{Query: q, Limit: searchLimit})
		return searchMsg{q, res, err}
	}
}

// open reads the hit's command (its state, as the relay knows it) and
// opens it in a pane.
func (s *searchView) open(h wire.SearchHit) tea.Cmd {
	b := s.b
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		cmds, err := b.History(ctx, wire.HistoryQuery{CommandID: h.CommandID})
		if err != nil || len(cmds) == 0 {
			return openHitMsg{wire.Command{ID: h.CommandID, AgentID: h.AgentID, AgentName: h.AgentName,
				CommandSpec: wire.CommandSpec{Shell: h.Command}, CreatedAt: h.CreatedAt}, h}
		}
		return openHitMsg{cmds[0], h}
	}
}

// openHit opens the hit's command in a pane and remembers to find the
// hit's line there once the output up to it is shown.
func (m *Model) openHit(msg openHitMsg) {
	m.search = nil
	m.openPane(msg.cmd)
	if m.seeks == nil {
		m.seeks = make(map[string]wire.SearchHit)
	}
	m.seeks[msg.cmd.ID] = msg.hit
}

// seekHits starts, in each pane a search result opened, a find of the
// hit's line (find.go: highlighted, scrolled into view, n/N for others)
// as soon as the pane shows the output up to it.
func (m *Model) seekHits() {
	for id, hit := range m.seeks {
		i := m.panes.find(id)
		if i < 0 {
			delete(m.seeks, id)
			continue
		}
		p, st := m.panes.panes[i], m.streams[id]
		if st == nil || p.pending() > 0 || (st.next <= hit.Offset && !st.ended) {
			continue
		}
		delete(m.seeks, id)
		p.find = newPaneFind(p)
		p.find.typing, p.find.query = false, hit.Text
		p.find.jump(1)
	}
}

// View renders the view as a bordered box s.w wide.
func (s *searchView) View() []string {
	st := s.c.st
	inner := s.w - 2
	cursor := ""
	if s.typing {
		cursor = "▏"
	}
	body := []string{fit(" search: "+safetext.Escape(s.query)+cursor, inner)}
	switch {
	case s.loading:
		body = append(body, fit(" searching…", inner))
	case s.err != nil:
		body = append(body, st.bad.Render(fit(" "+s.err.Error(), inner)))
	case s.asked != "" && len(s.hits) == 0:
		body = append(body, st.faint.Render(fit(" no line matches", inner)))
	case s.asked != "":
		body = append(body, st.faint.Render(fit(fmt.Sprintf(" %d lines, newest first", len(s.hits)), inner)))
	default:
		body = append(body, st.faint.Render(fit(" words and \"phrases\", all of which a line must hold; word* is a prefix", inner)))
	}
	for i := s.top; i < len(s.hits) && len(body) < s.h-3; i++ {
		body = append(body, s.row(s.hits[i], !s.typing && i == s.cursor, inner))
	}
	return framedBox(st, " Search all output ", s.w, s.h, body, " enter searches, then opens the line's command · ↑/↓ · esc closes")
}

func (s *searchView) row(h wire.SearchHit, isCursor bool, w int) string {
	line := fmt.Sprintf(" %-12s %s  %s", safetext.Escape(truncate(h.AgentName, 12)), safetext.Escape(h.Text),
		s.c.st.faint.Render("· "+safetext.Escape(h.Command)))
	if isCursor {
		return s.c.st.cursorRow.Render(fit(line, w))
	}
	return fit(line, w)
}
