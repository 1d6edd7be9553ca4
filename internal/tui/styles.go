package tui

import (
	"charm.land/lipgloss/v2"

	"switchboard/internal/status"
)

// Colours are the terminal's own 16 ANSI colours, so the dashboard follows
// the user's palette on dark and light backgrounds alike. Meaning is never
// carried by colour alone: every status also has a symbol and a word.
var (
	colRed     = lipgloss.Color("1")
	colGreen   = lipgloss.Color("2")
	colYellow  = lipgloss.Color("3")
	colBlue    = lipgloss.Color("4")
	colMagenta = lipgloss.Color("5")
	colCyan    = lipgloss.Color("6")
	colGrey    = lipgloss.Color("8")
	colBlack   = lipgloss.Color("0")
	colWhite   = lipgloss.Color("15")
)

// styles is the dashboard's look, shared by every component.
type styles struct {
	faint, bold          lipgloss.Style
	border, borderFocus  lipgloss.Style
	borderInteractive    lipgloss.Style
	title, titleFocus    lipgloss.Style
	cursorRow, selected  lipgloss.Style
	header               lipgloss.Style
	headerFocus          lipgloss.Style // the title of the area that has the keyboard
	statusBar            lipgloss.Style
	interactiveBadge     lipgloss.Style
	warnBar              lipgloss.Style // a question before something that cannot be undone
	ok, warn, bad, info  lipgloss.Style
	waiting              lipgloss.Style
	barPrompt, barTarget lipgloss.Style
	key                  lipgloss.Style
}

func defaultStyles() styles {
	s := lipgloss.NewStyle()
	return styles{
		faint:             s.Foreground(colGrey),
		bold:              s.Bold(true),
		border:            s.Foreground(colGrey),
		borderFocus:       s.Foreground(colCyan),
		borderInteractive: s.Foreground(colRed).Bold(true),
		title:             s.Foreground(colGrey),
		titleFocus:        s.Bold(true),
		cursorRow:         s.Reverse(true),
		selected:          s.Foreground(colMagenta).Bold(true),
		header:            s.Bold(true).Foreground(colCyan),
		headerFocus:       s.Bold(true).Background(colCyan).Foreground(colBlack),
		statusBar:         s,
		interactiveBadge:  s.Background(colRed).Foreground(colWhite).Bold(true),
		warnBar:           s.Background(colYellow).Foreground(colBlack).Bold(true),
		ok:                s.Foreground(colGreen),
		warn:              s.Foreground(colYellow),
		bad:               s.Foreground(colRed),
		info:              s.Foreground(colBlue),
		waiting:           s.Foreground(colYellow).Bold(true),
		barPrompt:         s.Foreground(colCyan).Bold(true),
		barTarget:         s.Foreground(colMagenta).Bold(true),
		key:               s.Foreground(colCyan),
	}
}

// tone is the style of a status tone (internal/status).
func (s styles) tone(t status.Tone) lipgloss.Style {
	switch t {
	case status.Green:
		return s.ok
	case status.Blue:
		return s.info
	case status.Yellow:
		return s.waiting
	case status.Red:
		return s.bad
	}
	return s.faint
}

// look renders a status look, symbol and word, in its tone.
func (s styles) look(l status.Look) string { return s.tone(l.Tone).Render(l.String()) }
