package tui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"

	"switchboard/internal/safetext"
)

// signInMsg carries a link that opens the browser dashboard signed in as
// this dashboard's token, for the help view: asked for each time help
// opens, since a link works once.
type signInMsg struct {
	link    string
	expires time.Time // zero: the relay has no authentication; the link is its plain address
	err     error
}

// askSignIn asks the relay for a fresh sign-in link.
func (m *Model) askSignIn() tea.Cmd {
	b := m.b
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		link, expires, err := b.SignIn(ctx)
		return signInMsg{link, expires, err}
	}
}

// signInLine says how to open the browser dashboard.
func (m *Model) signInLine() string {
	s := m.signin
	switch {
	case s.err != nil:
		return "Browser: no sign-in link: " + safetext.Escape(s.err.Error())
	case s.link == "":
		return "Browser: asking the relay for a sign-in link…"
	case s.expires.IsZero():
		return "Browser dashboard:\n" + s.link
	}
	return "Browser dashboard (this link signs in as your token, once, until " + s.expires.Local().Format(time.TimeOnly) + "):\n" + s.link
}
