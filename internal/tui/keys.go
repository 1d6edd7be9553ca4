package tui

import (
	"charm.land/bubbles/v2/key"
)

// keyMap holds every binding; the help view is generated from it.
type keyMap struct {
	// Global.
	Quit, Help, NextFocus, PrevFocus, Command, Filter, History, Search key.Binding
	// Agent list.
	Up, Down, Select, SelectAll, ClearSel, Run, OpenRunning, Forget key.Binding
	// Attention: anywhere but typing into a process.
	NextWaiting, QuickReply key.Binding
	// Panes.
	Interactive, Release, ClosePane, CancelCmd, RestartSession, Zoom, NextPane, PrevPane, FocusPane key.Binding
	ScrollUp, ScrollDown, PageUp, PageDown, Top, Bottom, Find, Replay                               key.Binding
	// Command bar and pickers.
	Send, HistPrev, HistNext, Back, Open key.Binding
}

func defaultKeys() keyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return keyMap{
		Quit:      b("q", "quit", "q", "ctrl+c"),
		Help:      b("?", "help", "?"),
		NextFocus: b("tab", "next area", "tab"),
		PrevFocus: b("shift+tab", "previous area", "shift+tab"),
		Command:   b(":", "command bar", ":"),
		Filter:    b("/", "filter agents", "/"),
		History:   b("h", "history of agent", "h"),
		Search:    b("S", "search all output", "S"),

		Up:          b("↑/k", "up", "up", "k"),
		Down:        b("↓/j", "down", "down", "j"),
		Select:      b("space", "select agent", "space"),
		SelectAll:   b("a", "select all shown", "a"),
		ClearSel:    b("esc", "clear selection/filter", "esc"),
		Run:         b("enter", "type a command", "enter"),
		OpenRunning: b("o", "open its running commands", "o"),
		NextWaiting: b("n", "next waiting agent: open it", "n"),
		QuickReply:  b("r", "quick reply to what waits", "r"),
		Forget:      b("F F", "forget an offline agent", "F"),

		Interactive:    b("i", "type into the process", "i"),
		Release:        b("ctrl+]", "give keyboard back", "ctrl+]"),
		ClosePane:      b("x", "close pane", "x"),
		CancelCmd:      b("X", "cancel command (asks)", "X"),
		RestartSession: b("R", "restart session (asks)", "R"),
		Zoom:           b("z", "zoom pane", "z"),
		NextPane:       b("]", "next pane", "]"),
		PrevPane:       b("[", "previous pane", "["),
		FocusPane:      b("1-4", "go to pane", "1", "2", "3", "4"),
		ScrollUp:       b("↑/k", "scroll up", "up", "k", "shift+up"),
		ScrollDown:     b("↓/j", "scroll down", "down", "j", "shift+down"),
		PageUp:         b("pgup", "page up", "pgup", "shift+pgup"),
		PageDown:       b("pgdn", "page down", "pgdown", "shift+pgdown"),
		Top:            b("g/home", "oldest output", "g", "home"),
		Bottom:         b("G/end", "follow output", "G", "end"),
		Find:           b("f", "find in the pane (n/N, esc)", "f"),
		Replay:         b("p", "replay a finished command", "p"),

		Send:     b("enter", "run / open", "enter"),
		HistPrev: b("↑", "previous command", "up"),
		HistNext: b("↓", "next command", "down"),
		Back:     b("esc", "back", "esc"),
		Open:     b("enter", "open in pane", "enter"),
	}
}
