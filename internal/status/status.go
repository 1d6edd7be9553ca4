// Package status is the one vocabulary every dashboard uses to show where
// agents and commands are: for each status, a symbol, a word and a tone
// (a colour by name). The TUI and the CLI take it from here; the browser
// page has the same table in web/src/view.js, which a browser test holds
// to this one, and the README lists it.
//
// Meaning is never carried by colour alone: the symbol and the word say
// it too, for colour-blind users and terminals without colour.
package status

import (
	"fmt"

	"switchboard/internal/wire"
)

// Tone is a colour by name. Dashboards map it to their palette: the TUI to
// the terminal's own ANSI colours, the page to its CSS.
type Tone string

// Tones.
const (
	Green  Tone = "green"  // done well, ready
	Blue   Tone = "blue"   // at work
	Yellow Tone = "yellow" // needs a person, or was stopped by one
	Red    Tone = "red"    // failed
	Grey   Tone = "grey"   // not there, or not started
)

// Look is how one status is shown.
type Look struct {
	Symbol string
	Word   string
	Tone   Tone
}

// String is the symbol and the word, as text without colour shows them.
func (l Look) String() string { return l.Symbol + " " + l.Word }

// The looks. Each symbol means one thing wherever it appears.
var (
	Idle      = Look{"●", "idle", Green}
	Busy      = Look{"▶", "busy", Blue}
	Waiting   = Look{"◆", "waiting", Yellow}
	Quiet     = Look{"◇", "quiet", Grey}
	Offline   = Look{"○", "offline", Grey}
	Queued    = Look{"◌", "queued", Grey}
	Running   = Look{"▶", "running", Blue}
	Succeeded = Look{"✓", "exit 0", Green}
	Cancelled = Look{"⊘", "cancelled", Yellow}
	TimedOut  = Look{"⏱", "timed out", Red}
	Lost      = Look{"?", "lost", Red}
	Rejected  = Look{"✗", "rejected", Red}
	failed    = Look{"✗", "", Red} // exit N or a signal's name
)

// Agent is how an agent is shown: its status, refined by its attention
// (what its most urgent command needs). waiting says a command of its
// waits for a person by the dashboard's own judgement too.
func Agent(a wire.Agent, waiting bool) Look {
	switch {
	case a.Status == wire.AgentOffline:
		return Offline
	case waiting || a.Attention == wire.AttentionWaiting:
		return Waiting
	case a.Attention == wire.AttentionQuiet:
		return Quiet
	case a.Attention == wire.AttentionIdle:
		return Idle // nothing running, or every command finished its turn
	case a.Status == wire.AgentBusy || a.Running > 0:
		return Busy
	default:
		return Idle
	}
}

// Command is how a command is shown. A running one is shown by its
// attention: waiting (also when the dashboard judges so itself), quiet,
// idle (it finished its turn), else running.
func Command(c wire.Command, waiting bool) Look {
	switch c.State {
	case wire.StateQueued:
		return Queued
	case wire.StateRunning:
		switch {
		case waiting || c.Attention == wire.AttentionWaiting:
			return Waiting
		case c.Attention == wire.AttentionQuiet:
			return Quiet
		case c.Attention == wire.AttentionIdle:
			return Idle
		}
		return Running
	case wire.StateExited:
		return exited(c)
	case wire.StateCanceled:
		return Cancelled
	case wire.StateTimedOut:
		return TimedOut
	case wire.StateLost:
		return Lost
	case wire.StateRejected:
		return Rejected
	}
	return Look{"?", string(c.State), Grey}
}

func exited(c wire.Command) Look {
	switch {
	case c.ExitCode != nil && *c.ExitCode == 0:
		return Succeeded
	case c.ExitCode != nil:
		l := failed
		l.Word = fmt.Sprintf("exit %d", *c.ExitCode)
		return l
	case c.Signal != "":
		l := failed
		l.Word = c.Signal
		return l
	}
	l := failed
	l.Word = "exited"
	return l
}

// Entry is one row of the vocabulary: what a look is for.
type Entry struct {
	For  string
	Look Look
}

// Vocabulary lists every look, for the README and the page's test.
func Vocabulary() []Entry {
	return []Entry{
		{"agent connected, nothing running; a running command that finished its turn", Idle},
		{"agent running at least one command", Busy},
		{"agent or command waiting for a person (a prompt, a question, a bell)", Waiting},
		{"agent or command silent for a while, cause unknown", Quiet},
		{"agent not connected", Offline},
		{"command waiting to start", Queued},
		{"command running", Running},
		{"command exited 0", Succeeded},
		{"command exited non-zero (`exit 3`) or killed by a signal (`SIGKILL`)", Look{"✗", "exit N", Red}},
		{"command cancelled", Cancelled},
		{"command stopped after its timeout", TimedOut},
		{"command lost with its agent", Lost},
		{"command the agent refused or could not start", Rejected},
	}
}
