package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"
)

// helpSection is one titled group of the key help: what the keys do
// where the keyboard is.
type helpSection struct {
	title   string
	entries []helpEntry
}

type helpEntry struct{ keys, desc string }

// entry is a binding as its help shows it.
func entry(b key.Binding) helpEntry { return helpEntry{b.Help().Key, b.Help().Desc} }

// helpSections lists every key once per place it works, with the keys
// that share a line (up and down, for instance) on one line, in two
// columns that fit an 80-column terminal side by side.
func helpSections(k keyMap) [][]helpSection {
	anywhere := helpSection{"Anywhere", []helpEntry{entry(k.Help), entry(k.Quit),
		{"tab/⇧tab", "next / previous area"}, entry(k.Command), entry(k.Filter), entry(k.History), entry(k.Search),
		entry(k.RestartSession), {"n r", "next waiting / quick reply"}}}
	interactive := helpSection{"Typing into a process", []helpEntry{entry(k.Interactive), entry(k.Release)}}
	bar := helpSection{"Command bar", []helpEntry{{"enter", "run"}, {"↑ ↓", "earlier / later commands"}, entry(k.Back)}}
	list := helpSection{"Agent list", []helpEntry{{"↑/k ↓/j", "move"}, entry(k.Select), entry(k.SelectAll),
		entry(k.ClearSel), entry(k.Run), entry(k.OpenRunning), entry(k.Forget)}}
	panes := helpSection{"Panes", []helpEntry{{"1-4 ] [", "go to pane, next, previous"}, entry(k.Zoom),
		entry(k.ClosePane), entry(k.CancelCmd), {"↑/k ↓/j", "scroll"}, {"pgup pgdn", "scroll a page"},
		{"g G f p", "oldest/follow/find/replay"}, {"esc", "back to the agent list"}}}
	return [][]helpSection{{anywhere, interactive, bar}, {list, panes}}
}

// helpBox is the full key help, framed: titled sections in two columns,
// and how to open the browser dashboard.
func (m *Model) helpBox() []string {
	st := m.c.st
	var cols []string
	for _, col := range helpSections(m.c.keys) {
		var b strings.Builder
		keyW := 0
		for _, sec := range col {
			for _, e := range sec.entries {
				keyW = max(keyW, ansiWidth(e.keys))
			}
		}
		for i, sec := range col {
			if i > 0 {
				b.WriteString("\n")
			}
			b.WriteString(st.header.Render(sec.title))
			for _, e := range sec.entries {
				b.WriteString("\n" + st.key.Render(padTo(e.keys, keyW)) + " " + e.desc)
			}
		}
		cols = append(cols, b.String())
	}
	body := lipgloss.JoinHorizontal(lipgloss.Top, cols[0], "    ", cols[1])
	if lipgloss.Width(body) > m.w-4 { // the border and padding take 4
		body = cols[0] + "\n" + cols[1]
	}
	body = st.bold.Render("Keys") + st.faint.Render("  (? or esc closes)") + "\n" + body + "\n\n" + m.signInLine()
	box := lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(colCyan).
		Padding(0, 1).MaxWidth(m.w).Render(body)
	lines := strings.Split(box, "\n")
	if len(lines) > m.h-2 {
		lines = lines[:m.h-2]
	}
	w := 0
	for _, l := range lines {
		w = max(w, ansiWidth(l))
	}
	for i, l := range lines {
		lines[i] = padTo(l, w)
	}
	return lines
}
