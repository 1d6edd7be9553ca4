package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
)

// maxBarHistory bounds the command bar's history.
const maxBarHistory = 200

// Messages from the command bar to the root model.
type (
	// submitMsg: the user entered a command line for the bar's targets.
	submitMsg struct{ line string }
	// leaveBarMsg: the user left the command bar without running anything.
	leaveBarMsg struct{}
)

// cmdBar is the one-line command input. Its target (the agents a command
// goes to) is always shown in front of the input.
type cmdBar struct {
	c       *common
	w       int
	input   textinput.Model
	history []string // oldest first
	histPos int      // index into history while browsing; len(history) = the draft
	draft   string
	target  string // rendered target description, set by the root
	focused bool
}

func newCmdBar(c *common) *cmdBar {
	in := textinput.New()
	in.Prompt = ""
	in.Placeholder = "command to run, e.g. make test"
	in.SetVirtualCursor(false)
	return &cmdBar{c: c, input: in}
}

// SetSize sets the bar's width; it is always one line high.
func (b *cmdBar) SetSize(w int) {
	b.w = w
	b.input.SetWidth(max(w-b.prefixWidth()-1, 1))
}

// setTarget changes the shown target.
func (b *cmdBar) setTarget(t string) {
	b.target = t
	b.SetSize(b.w)
}

func (b *cmdBar) prefix() string {
	st := b.c.st
	return st.barPrompt.Render(" run on ") + st.barTarget.Render(b.target) + st.barPrompt.Render(" ❯ ")
}

func (b *cmdBar) prefixWidth() int { return ansiWidth(b.prefix()) }

func (b *cmdBar) focus() tea.Cmd {
	b.focused = true
	return b.input.Focus()
}

func (b *cmdBar) blur() {
	b.focused = false
	b.input.Blur()
}

// Update handles a key while the bar has the keyboard.
func (b *cmdBar) Update(msg tea.KeyPressMsg) tea.Cmd {
	k := b.c.keys
	switch {
	case msg.String() == "enter":
		line := strings.TrimSpace(b.input.Value())
		if line == "" {
			return nil
		}
		b.remember(line)
		b.input.SetValue("")
		return func() tea.Msg { return submitMsg{line} }
	case key.Matches(msg, k.Back):
		return func() tea.Msg { return leaveBarMsg{} }
	case key.Matches(msg, k.HistPrev):
		b.browse(-1)
		return nil
	case key.Matches(msg, k.HistNext):
		b.browse(+1)
		return nil
	}
	var cmd tea.Cmd
	b.input, cmd = b.input.Update(msg)
	return cmd
}

// remember appends line to the history, skipping a repeat of the last one.
func (b *cmdBar) remember(line string) {
	if n := len(b.history); n == 0 || b.history[n-1] != line {
		b.history = append(b.history, line)
	}
	if len(b.history) > maxBarHistory {
		b.history = b.history[len(b.history)-maxBarHistory:]
	}
	b.histPos = len(b.history)
	b.draft = ""
}

// browse moves through the history; past the newest entry is the draft.
func (b *cmdBar) browse(delta int) {
	if b.histPos == len(b.history) {
		b.draft = b.input.Value()
	}
	pos := min(max(b.histPos+delta, 0), len(b.history))
	if pos == b.histPos {
		return
	}
	b.histPos = pos
	if pos == len(b.history) {
		b.input.SetValue(b.draft)
	} else {
		b.input.SetValue(b.history[pos])
	}
	b.input.CursorEnd()
}

// View renders the bar, exactly w cells wide.
func (b *cmdBar) View() string {
	if !b.focused && b.input.Value() == "" {
		hint := b.c.st.faint.Render("press : or enter to type a command")
		return padTo(b.prefix()+hint, b.w)
	}
	return padTo(b.prefix()+b.input.View(), b.w)
}

// cursor is where the terminal cursor goes while the bar is focused.
func (b *cmdBar) cursor() *tea.Cursor {
	c := b.input.Cursor()
	if c != nil {
		c.X += b.prefixWidth()
	}
	return c
}
