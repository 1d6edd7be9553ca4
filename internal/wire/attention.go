package wire

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Attention says whether a running command, or an agent as a whole, needs
// a person. The agent decides it for each command from what it sees (the
// process blocked reading its terminal, the program's own hooks, terminal
// notifications in its output, silence) and reports changes; the relay
// keeps it on the command and sums it up per agent.
type Attention string

// Attention states, most urgent first (see Urgency).
const (
	// AttentionWaiting: known to need input (a prompt, a permission
	// question, a bell); AttentionReason says what it asks.
	AttentionWaiting Attention = "waiting"
	// AttentionQuiet: silent for a while, cause unknown. Never a reason
	// to call someone; Since says how long.
	AttentionQuiet Attention = "quiet"
	// AttentionWorking: producing output, or known to be busy.
	AttentionWorking Attention = "working"
	// AttentionIdle: known to be idle (an agent CLI finished its turn, a
	// shell is at its prompt); for an agent, nothing running.
	AttentionIdle Attention = "idle"
	// AttentionOffline: the agent is not connected (agents only).
	AttentionOffline Attention = "offline"
)

// Urgency orders attention states for sorting: higher needs a person
// sooner. Unknown states (from a newer peer) rank with quiet's neighbour,
// working, so they are neither hidden nor alarming.
func (a Attention) Urgency() int {
	switch a {
	case AttentionWaiting:
		return 4
	case AttentionQuiet:
		return 3
	case AttentionIdle:
		return 1
	case AttentionOffline:
		return 0
	default:
		return 2
	}
}

// Reportable reports whether an agent may report a as a command's state.
func (a Attention) Reportable() bool {
	switch a {
	case AttentionWaiting, AttentionQuiet, AttentionWorking, AttentionIdle:
		return true
	}
	return false
}

// Limits: an attention report's text is cut to these; a quick reply's
// text longer than MaxReplyText is refused.
const (
	MaxAttentionReason = 512  // bytes of AttentionReport.Reason
	MaxTitle           = 256  // bytes of AttentionReport.Title
	MaxReplyText       = 4096 // bytes of QuickReply.Text
)

// AttentionReport tells the relay a running command's attention state
// changed (agent → relay). The agent sends it whenever state, reason or
// title change, and again for each running command on every connection.
type AttentionReport struct {
	CommandID string    `json:"command_id"`
	State     Attention `json:"state"`
	Reason    string    `json:"reason,omitempty"`
	Title     string    `json:"title,omitempty"` // the terminal's window title (OSC 0/2)
	// AgeMS is how long the state has held, in milliseconds, when sent
	// (quiet: since the last output): the relay dates it by its own clock,
	// so agents' clocks do not matter.
	AgeMS int64 `json:"age_ms,omitempty"`
}

// QuickReply sends a short answer to a waiting command as input (dashboard →
// relay), without opening its pane. It names the command, or an agent,
// whose most urgent waiting command gets it. Text is sent as typed: "\r"
// for Enter.
type QuickReply struct {
	RequestID string `json:"request_id,omitempty"`
	CommandID string `json:"command_id,omitempty"`
	Agent     string `json:"agent,omitempty"` // id or name
	Text      string `json:"text"`
}

// QuickReplySent answers QuickReply: the text went to the command's agent.
type QuickReplySent struct {
	RequestID string `json:"request_id,omitempty"`
	CommandID string `json:"command_id"`
}

// CleanText makes text a program supplied (a prompt, a notification, a
// window title) fit to show anywhere: valid UTF-8, control characters and
// runs of white space as one space, trimmed, and at most max bytes, cut
// at a character boundary.
func CleanText(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			if b.Len()+1 > max {
				break
			}
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimRight(b.String(), " ")
}
