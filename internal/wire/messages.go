package wire

import "time"

// Message is a JSON control message. Its type name is carried in the
// "type" field of the encoded object.
type Message interface {
	MessageType() string
}

// Hello is the first message on every connection, in both endpoints.
type Hello struct {
	Protocol int    `json:"protocol"`
	Client   string `json:"client,omitempty"` // free text, e.g. "switchboard-tui/0.1"
	Token    string `json:"token,omitempty"`  // access token; browsers may use the session cookie instead
	// Agents only.
	Agent   *AgentInfo    `json:"agent,omitempty"`
	Holding []HeldCommand `json:"holding,omitempty"` // commands whose output or exit is not yet acknowledged
}

// HeldCommand is a command an agent still holds when it (re)connects.
type HeldCommand struct {
	CommandID string `json:"command_id"`
	Offset    int64  `json:"offset"`           // bytes of output produced so far
	Exited    bool   `json:"exited,omitempty"` // the process has ended; an Exited message will follow
}

// Welcome answers a valid Hello.
type Welcome struct {
	Protocol    int    `json:"protocol"`
	Relay       string `json:"relay"`        // relay version
	HeartbeatMS int64  `json:"heartbeat_ms"` // how often an agent sends Heartbeat
	// Agents only: for each held command, the offset the relay has stored up
	// to. The agent resends its output from there.
	Resume []Ack `json:"resume,omitempty"`
	// Agents only: the relay takes timed output frames (FrameTimed) and
	// stores their timing. Without it an agent sends plain output frames.
	Timing bool `json:"timing,omitempty"`
}

// Snapshot is the full live state, sent to a dashboard right after Welcome.
// Events with a Seq greater than Snapshot.Seq follow it.
type Snapshot struct {
	Seq      uint64    `json:"seq"`
	Agents   []Agent   `json:"agents"`
	Commands []Command `json:"commands"` // queued, running, and the most recent finished
	// Partial means more snapshot messages with the same Seq follow; a
	// large state is split so that no message nears MaxMessageSize.
	Partial bool `json:"partial,omitempty"`
}

// AgentEvent tells every dashboard the new state of one agent.
type AgentEvent struct {
	Seq   uint64 `json:"seq"`
	Agent Agent  `json:"agent"`
}

// CommandEvent tells every dashboard the new state of one command.
type CommandEvent struct {
	Seq     uint64  `json:"seq"`
	Command Command `json:"command"`
}

// Run asks the relay to run a command on every agent Targets selects.
type Run struct {
	RequestID string  `json:"request_id,omitempty"`
	Targets   Targets `json:"targets"`
	CommandSpec
}

// RunAccepted answers Run with the commands created, one per agent.
type RunAccepted struct {
	RequestID string    `json:"request_id,omitempty"`
	Commands  []Command `json:"commands"`
}

// Subscribe asks for a command's output from Offset on: first what is
// stored, then live output as it arrives, then OutputEnd once the command
// is final and everything has been sent.
type Subscribe struct {
	CommandID string `json:"command_id"`
	Offset    int64  `json:"offset"`
}

// Unsubscribe stops a subscription.
type Unsubscribe struct {
	CommandID string `json:"command_id"`
}

// Subscribed comes before the frames of a subscribe: a frame of the
// command that arrives before it was sent for an earlier subscription
// (one stopped by unsubscribe) and is to be ignored.
type Subscribed struct {
	CommandID string `json:"command_id"`
	Offset    int64  `json:"offset"`
}

// OutputEnd says a subscribed command has ended and all its output, up to
// Offset, has been sent.
type OutputEnd struct {
	CommandID string `json:"command_id"`
	Offset    int64  `json:"offset"`
}

// Resize changes a running command's terminal size.
type Resize struct {
	CommandID string `json:"command_id"`
	Cols      int    `json:"cols"`
	Rows      int    `json:"rows"`
}

// Cancel stops a queued or running command.
type Cancel struct {
	RequestID string `json:"request_id,omitempty"`
	CommandID string `json:"command_id"`
}

// HistoryQuery asks for finished and live commands, newest first.
type HistoryQuery struct {
	RequestID string `json:"request_id,omitempty"`
	Agent     string `json:"agent,omitempty"` // id or name; empty means all agents
	Limit     int    `json:"limit,omitempty"` // 0 means 50; at most 1000
	CommandID string `json:"command_id,omitempty"`
}

// HistoryResult answers HistoryQuery.
type HistoryResult struct {
	RequestID string    `json:"request_id,omitempty"`
	Commands  []Command `json:"commands"`
}

// AuditQuery asks for the newest entries of the audit trail (admins only).
type AuditQuery struct {
	RequestID string `json:"request_id,omitempty"`
	Limit     int    `json:"limit,omitempty"` // 0 means 50; at most 1000
}

// AuditResult answers AuditQuery, newest first.
type AuditResult struct {
	RequestID string       `json:"request_id,omitempty"`
	Entries   []AuditEntry `json:"entries"`
}

// AgentForget asks the relay to forget an offline agent (admins only): it
// leaves every dashboard's state and the store, its commands stay in
// history, and the binding its token got from its first connection ends
// (one made with the token keeps the name, for a new id).
type AgentForget struct {
	RequestID string `json:"request_id,omitempty"`
	Agent     string `json:"agent"` // id or name
}

// AgentForgetResult answers AgentForget.
type AgentForgetResult struct {
	RequestID string `json:"request_id,omitempty"`
	AgentID   string `json:"agent_id"`
}

// AgentRemoved tells every dashboard that an agent was forgotten.
type AgentRemoved struct {
	Seq     uint64 `json:"seq"`
	AgentID string `json:"agent_id"`
}

// CommandRemoved tells every dashboard that a finished command was
// removed from history by retention (relay --retain, --max-db-size).
type CommandRemoved struct {
	Seq       uint64 `json:"seq"`
	CommandID string `json:"command_id"`
}

// SignInQuery asks for a one-time code that signs a browser in as the
// connection's own token: the page at the relay's address, opened with
// #signin=CODE, posts it to /api/login. It works once, within
// SignInResult.ExpiresAt.
type SignInQuery struct {
	RequestID string `json:"request_id,omitempty"`
}

// SignInResult answers SignInQuery.
type SignInResult struct {
	RequestID string    `json:"request_id,omitempty"`
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TimingQuery asks for a command's stored timing events, from the one
// numbered From on (0: the first).
type TimingQuery struct {
	RequestID string `json:"request_id,omitempty"`
	CommandID string `json:"command_id"`
	From      int64  `json:"from,omitempty"`
}

// TimingResult answers TimingQuery with events in order. While More is
// set, ask again from Next for the rest.
type TimingResult struct {
	RequestID string        `json:"request_id,omitempty"`
	CommandID string        `json:"command_id"`
	Events    []TimingEvent `json:"events"`
	More      bool          `json:"more,omitempty"`
	Next      int64         `json:"next,omitempty"`
}

// Error reports a problem with a request or the connection. RequestID and
// CommandID name what it refers to, when known.
type Error struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
	CommandID string `json:"command_id,omitempty"`
}

// Error makes *Error an error, so a client can return it as one.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Start tells an agent to start a command.
type Start struct {
	Command Command `json:"command"`
}

// Started tells the relay a command's process is running.
type Started struct {
	CommandID string    `json:"command_id"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
}

// Exited tells the relay a command's process has ended and that Offset
// bytes of output were produced in all. The relay finalizes the command
// once it holds all of them.
type Exited struct {
	CommandID  string       `json:"command_id"`
	State      CommandState `json:"state"` // exited, cancelled, timed_out or rejected
	ExitCode   *int         `json:"exit_code,omitempty"`
	Signal     string       `json:"signal,omitempty"`
	Reason     string       `json:"reason,omitempty"`
	Offset     int64        `json:"offset"`
	EndedAt    time.Time    `json:"ended_at"`
	DurationMS int64        `json:"duration_ms"`
}

// SessionOpened tells the relay the agent started a session of its own
// (agent -- PROGRAM). The agent chooses Command.ID.
type SessionOpened struct {
	Command Command `json:"command"`
}

// Ack tells an agent that the relay has durably stored a command's output
// up to Offset. Done means the command's end is stored too: the agent may
// forget it.
type Ack struct {
	CommandID string `json:"command_id"`
	Offset    int64  `json:"offset"`
	Done      bool   `json:"done,omitempty"`
}

// OutputDropped tells the relay that an agent's buffer overflowed while it
// could not deliver, and bytes [From, To) of a command's output are gone.
type OutputDropped struct {
	CommandID string `json:"command_id"`
	From      int64  `json:"from"`
	To        int64  `json:"to"`
}

// Heartbeat is sent by agents every Welcome.HeartbeatMS.
type Heartbeat struct {
	Running int `json:"running"`
}

// RestartSession starts an agent's session program (agent -- PROGRAM)
// again, stopping it first if it runs: a dashboard sends it to the relay,
// naming the agent by id or name, and the relay passes it to that agent
// with Agent set to its id. The new session is a new command; the old
// one ends as cancelled.
type RestartSession struct {
	RequestID string `json:"request_id,omitempty"`
	Agent     string `json:"agent"`
}

// Message type names.
const (
	TypeHello             = "hello"
	TypeWelcome           = "welcome"
	TypeSnapshot          = "snapshot"
	TypeAgentEvent        = "agent"
	TypeCommandEvent      = "command"
	TypeRun               = "run"
	TypeRunAccepted       = "run.accepted"
	TypeSubscribe         = "subscribe"
	TypeUnsubscribe       = "unsubscribe"
	TypeOutputEnd         = "output.end"
	TypeSubscribed        = "subscribed"
	TypeResize            = "resize"
	TypeCancel            = "cancel"
	TypeHistoryQuery      = "history"
	TypeHistoryResult     = "history.result"
	TypeError             = "error"
	TypeStart             = "start"
	TypeStarted           = "started"
	TypeExited            = "exited"
	TypeSessionOpened     = "session"
	TypeAck               = "ack"
	TypeOutputDropped     = "output.dropped"
	TypeHeartbeat         = "heartbeat"
	TypeAuditQuery        = "audit"
	TypeAuditResult       = "audit.result"
	TypeAgentForget       = "agent.forget"
	TypeAgentForgetResult = "agent.forget.result"
	TypeAgentRemoved      = "agent.removed"
	TypeCommandRemoved    = "command.removed"
	TypeSignInQuery       = "signin"
	TypeSignInResult      = "signin.result"
	TypeRestart           = "session.restart"
	TypeAttention         = "attention"
	TypeQuickReply        = "quick_reply"
	TypeQuickReplySent    = "quick_reply.sent"
	TypeTimingQuery       = "timing"
	TypeTimingResult      = "timing.result"
	TypeSearchQuery       = "search"
	TypeSearchResult      = "search.result"
)

func (*Hello) MessageType() string             { return TypeHello }
func (*Welcome) MessageType() string           { return TypeWelcome }
func (*Snapshot) MessageType() string          { return TypeSnapshot }
func (*AgentEvent) MessageType() string        { return TypeAgentEvent }
func (*CommandEvent) MessageType() string      { return TypeCommandEvent }
func (*Run) MessageType() string               { return TypeRun }
func (*RunAccepted) MessageType() string       { return TypeRunAccepted }
func (*Subscribe) MessageType() string         { return TypeSubscribe }
func (*Unsubscribe) MessageType() string       { return TypeUnsubscribe }
func (*OutputEnd) MessageType() string         { return TypeOutputEnd }
func (*Subscribed) MessageType() string        { return TypeSubscribed }
func (*Resize) MessageType() string            { return TypeResize }
func (*Cancel) MessageType() string            { return TypeCancel }
func (*HistoryQuery) MessageType() string      { return TypeHistoryQuery }
func (*HistoryResult) MessageType() string     { return TypeHistoryResult }
func (*Error) MessageType() string             { return TypeError }
func (*Start) MessageType() string             { return TypeStart }
func (*Started) MessageType() string           { return TypeStarted }
func (*Exited) MessageType() string            { return TypeExited }
func (*SessionOpened) MessageType() string     { return TypeSessionOpened }
func (*Ack) MessageType() string               { return TypeAck }
func (*OutputDropped) MessageType() string     { return TypeOutputDropped }
func (*Heartbeat) MessageType() string         { return TypeHeartbeat }
func (*AuditQuery) MessageType() string        { return TypeAuditQuery }
func (*AuditResult) MessageType() string       { return TypeAuditResult }
func (*SignInQuery) MessageType() string       { return TypeSignInQuery }
func (*AgentForget) MessageType() string       { return TypeAgentForget }
func (*AgentForgetResult) MessageType() string { return TypeAgentForgetResult }
func (*AgentRemoved) MessageType() string      { return TypeAgentRemoved }
func (*CommandRemoved) MessageType() string    { return TypeCommandRemoved }
func (*SignInResult) MessageType() string      { return TypeSignInResult }
func (*RestartSession) MessageType() string    { return TypeRestart }
func (*AttentionReport) MessageType() string   { return TypeAttention }
func (*QuickReply) MessageType() string        { return TypeQuickReply }
func (*QuickReplySent) MessageType() string    { return TypeQuickReplySent }
func (*TimingQuery) MessageType() string       { return TypeTimingQuery }
func (*TimingResult) MessageType() string      { return TypeTimingResult }

// newMessage maps a type name to a fresh value to decode into.
var newMessage = map[string]func() Message{
	TypeHello:             func() Message { return new(Hello) },
	TypeWelcome:           func() Message { return new(Welcome) },
	TypeSnapshot:          func() Message { return new(Snapshot) },
	TypeAgentEvent:        func() Message { return new(AgentEvent) },
	TypeCommandEvent:      func() Message { return new(CommandEvent) },
	TypeRun:               func() Message { return new(Run) },
	TypeRunAccepted:       func() Message { return new(RunAccepted) },
	TypeSubscribe:         func() Message { return new(Subscribe) },
	TypeUnsubscribe:       func() Message { return new(Unsubscribe) },
	TypeOutputEnd:         func() Message { return new(OutputEnd) },
	TypeSubscribed:        func() Message { return new(Subscribed) },
	TypeResize:            func() Message { return new(Resize) },
	TypeCancel:            func() Message { return new(Cancel) },
	TypeHistoryQuery:      func() Message { return new(HistoryQuery) },
	TypeHistoryResult:     func() Message { return new(HistoryResult) },
	TypeError:             func() Message { return new(Error) },
	TypeStart:             func() Message { return new(Start) },
	TypeStarted:           func() Message { return new(Started) },
	TypeExited:            func() Message { return new(Exited) },
	TypeSessionOpened:     func() Message { return new(SessionOpened) },
	TypeAck:               func() Message { return new(Ack) },
	TypeOutputDropped:     func() Message { return new(OutputDropped) },
	TypeHeartbeat:         func() Message { return new(Heartbeat) },
	TypeAuditQuery:        func() Message { return new(AuditQuery) },
	TypeAuditResult:       func() Message { return new(AuditResult) },
	TypeSignInQuery:       func() Message { return new(SignInQuery) },
	TypeAgentForget:       func() Message { return new(AgentForget) },
	TypeAgentForgetResult: func() Message { return new(AgentForgetResult) },
	TypeAgentRemoved:      func() Message { return new(AgentRemoved) },
	TypeCommandRemoved:    func() Message { return new(CommandRemoved) },
	TypeSignInResult:      func() Message { return new(SignInResult) },
	TypeRestart:           func() Message { return new(RestartSession) },
	TypeAttention:         func() Message { return new(AttentionReport) },
	TypeQuickReply:        func() Message { return new(QuickReply) },
	TypeQuickReplySent:    func() Message { return new(QuickReplySent) },
	TypeTimingQuery:       func() Message { return new(TimingQuery) },
	TypeTimingResult:      func() Message { return new(TimingResult) },
	TypeSearchQuery:       func() Message { return new(SearchQuery) },
	TypeSearchResult:      func() Message { return new(SearchResult) },
}
