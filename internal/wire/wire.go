// Package wire owns the Switchboard protocol: the endpoints, the JSON
// control messages, the binary output and input frames, the error and
// close codes, and their encoding. Agents, the relay and every dashboard
// (TUI, CLI, browser page) speak only what is defined here.
//
// The protocol is documented for client authors in docs/protocol.md; a
// change here that a peer could notice is a change to that page too.
//
// This package imports nothing else from Switchboard.
package wire

import (
	"time"

	json "github.com/segmentio/encoding/json"
)

// ProtocolVersion is the version every hello carries. A relay refuses a peer
// whose version it does not speak with close code CloseUnsupportedVersion.
const ProtocolVersion = 1

// MaxMessageSize is the largest WebSocket message, text or binary, that any
// peer may send. A larger one closes the connection with CloseTooBig.
const MaxMessageSize = 1 << 20

// MaxChunk is the largest output or input payload a sender puts in one
// binary frame, leaving room for the frame header under MaxMessageSize.
const MaxChunk = 256 << 10

// Endpoints served by the relay.
const (
	AgentPath     = "/ws/agent"
	DashboardPath = "/ws/dashboard"
)

// WebSocket close codes. 1000-1011 carry their RFC 6455 meaning; 4000 and
// up are Switchboard's own. The close reason is always a human sentence.
const (
	CloseNormal             = 1000
	CloseGoingAway          = 1001 // relay shutting down; reconnect later
	ClosePolicy             = 1008
	CloseTooBig             = 1009 // a message exceeded MaxMessageSize
	CloseInternal           = 1011
	CloseBadHandshake       = 4000 // first message was not a valid hello
	CloseUnsupportedVersion = 4001 // hello.protocol is not spoken here
	CloseSlowConsumer       = 4002 // the peer did not read fast enough
	CloseReplaced           = 4003 // the same agent id connected again
	CloseUnauthorized       = 4401 // no valid token: missing, unknown, expired or revoked
	CloseForbidden          = 4403 // the token's role may not use this endpoint
	CloseTooManyConnections = 4429 // the token has too many open connections
)

// Error codes carried by Error.Code.
const (
	CodeBadMessage         = "bad_message"         // not valid JSON, or a field of the wrong type
	CodeUnknownType        = "unknown_type"        // a type this relay does not know
	CodeTooLarge           = "too_large"           // a message over MaxMessageSize
	CodeUnsupportedVersion = "unsupported_version" // hello.protocol mismatch
	CodeBadHandshake       = "bad_handshake"       // a message before hello, or a bad hello
	CodeInvalidArgument    = "invalid_argument"    // a field value is not acceptable
	CodeNotFound           = "not_found"           // no such command or agent
	CodeNoTargets          = "no_targets"          // a run request matched no agent
	CodeNotRunning         = "not_running"         // input or resize for a command that is not running
	CodeNotWaiting         = "not_waiting"         // a reply to a command or agent that is not waiting
	CodeSlowConsumer       = "slow_consumer"       // the peer fell behind and was cut off
	CodeStorage            = "storage"             // the store failed; live traffic continues
	CodeUnauthorized       = "unauthorized"        // no valid token
	CodeForbidden          = "forbidden"           // the token's role may not do this
	CodeRateLimited        = "rate_limited"        // too many requests; the message was dropped
	CodeInternal           = "internal"
)

// AgentStatus is an agent's liveness as the relay sees it.
type AgentStatus string

// Agent statuses. An agent is idle or busy while connected, offline otherwise.
const (
	AgentIdle    AgentStatus = "idle"
	AgentBusy    AgentStatus = "busy"
	AgentOffline AgentStatus = "offline"
)

// CommandState is where a command is in its lifecycle. Queued and running
// are live; every other state is final.
type CommandState string

// Command states.
const (
	StateQueued   CommandState = "queued"    // waiting for its agent to connect or have room
	StateRunning  CommandState = "running"   // started in a PTY on the agent
	StateExited   CommandState = "exited"    // ended by itself: exit_code or signal is set
	StateCanceled CommandState = "cancelled" // stopped by a cancel
	StateTimedOut CommandState = "timed_out" // stopped because timeout_ms passed
	StateLost     CommandState = "lost"      // its agent vanished and did not return in time
	StateRejected CommandState = "rejected"  // the agent refused or failed to start it; see reason
)

// Final reports whether no further lifecycle change can follow s.
func (s CommandState) Final() bool {
	return s != StateQueued && s != StateRunning && s != ""
}

// AgentInfo is what an agent says about itself when it registers.
type AgentInfo struct {
	ID            string  `json:"id"`   // stable across the agent's restarts
	Name          string  `json:"name"` // human name; several agents may share one
	Labels        Strings `json:"labels,omitempty"`
	Hostname      string  `json:"hostname,omitempty"`
	OS            string  `json:"os,omitempty"`
	Arch          string  `json:"arch,omitempty"`
	Version       string  `json:"version,omitempty"`
	MaxConcurrent int     `json:"max_concurrent"` // commands it runs at once; 0 means 1
	// NoInput means the agent refuses all input (agent --no-input):
	// dashboards may watch and resize its commands and session, never type
	// into them. Input sent anyway is dropped and answered with an Error
	// (CodeForbidden).
	NoInput bool `json:"no_input,omitempty"`
	// Session is the program the agent runs as its session (agent --
	// PROGRAM), which dashboards may restart; empty when it runs none.
	Session []string `json:"session,omitempty"`
}

// Agent is an agent as dashboards see it: its registration plus live state.
type Agent struct {
	AgentInfo
	Status   AgentStatus `json:"status"`
	Running  int         `json:"running"`
	LastSeen time.Time   `json:"last_seen,omitzero"`
	// Attention is the most urgent of its running commands' states; idle
	// with none running, offline while disconnected. AttentionCommand is
	// that command, AttentionReason its reason.
	Attention        Attention `json:"attention"`
	AttentionReason  string    `json:"attention_reason"`
	AttentionCommand string    `json:"attention_command,omitempty"`
	AttentionSince   time.Time `json:"attention_since,omitzero"`
}

// CommandSpec says what to run. Exactly one of Argv and Shell is set: Argv
// is executed directly, Shell is run by the agent's shell (sh -c).
type CommandSpec struct {
	Argv      []string `json:"argv,omitempty"`
	Shell     string   `json:"shell,omitempty"`
	Cwd       string   `json:"cwd,omitempty"`
	Env       Strings  `json:"env,omitempty"`
	Cols      int      `json:"cols,omitempty"` // terminal size; 0 means 80
	Rows      int      `json:"rows,omitempty"` // terminal size; 0 means 24
	TimeoutMS int64    `json:"timeout_ms,omitempty"`
}

// Command is one execution of a CommandSpec on one agent.
type Command struct {
	ID        string `json:"id"`
	AgentID   string `json:"agent_id"`
	AgentName string `json:"agent_name,omitempty"`
	CommandSpec
	// EnvKeys are the names of Env, which dashboards get instead: env
	// values go to the command's agent only.
	EnvKeys     []string     `json:"env_keys,omitempty"`
	Session     bool         `json:"session,omitempty"` // started by the agent itself (agent -- PROGRAM)
	State       CommandState `json:"state"`
	ExitCode    *int         `json:"exit_code,omitempty"`
	Signal      string       `json:"signal,omitempty"` // e.g. "SIGKILL" when killed by a signal
	Reason      string       `json:"reason,omitempty"` // why rejected, lost, cancelled or failed
	RequestedBy string       `json:"requested_by,omitempty"`
	CreatedAt   time.Time    `json:"created_at,omitzero"`
	StartedAt   time.Time    `json:"started_at,omitzero"`
	EndedAt     time.Time    `json:"ended_at,omitzero"`
	DurationMS  int64        `json:"duration_ms,omitempty"`
	OutputBytes int64        `json:"output_bytes"` // bytes of output the relay has received
	LostBytes   int64        `json:"lost_bytes,omitempty"`
	// Attention and AttentionReason are set while the command runs (see
	// Attention); AttentionSince is when that state began.
	Attention       Attention `json:"attention,omitempty"`
	AttentionReason string    `json:"attention_reason,omitempty"`
	AttentionSince  time.Time `json:"attention_since,omitzero"`
	Title           string    `json:"title,omitempty"` // its terminal's window title, as last set
}

// Targets selects the agents a run request goes to: every agent named or
// whose id is listed in Agents, plus every agent whose labels include all
// of Labels. At least one of the two must be set.
type Targets struct {
	Agents []string `json:"agents,omitempty"`
	Labels Strings  `json:"labels,omitempty"`
}

// Empty reports whether t selects nothing.
func (t Targets) Empty() bool { return len(t.Agents) == 0 && len(t.Labels) == 0 }

// Matches reports whether the agent is selected by t.
func (t Targets) Matches(a AgentInfo) bool {
	for _, want := range t.Agents {
		if want == a.ID || want == a.Name {
			return true
		}
	}
	if len(t.Labels) == 0 {
		return false
	}
	for k, v := range t.Labels {
		if got, ok := a.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// AuditEntry is one line of the audit trail: who did what, when, and how
// it went. It never holds a secret.
type AuditEntry struct {
	At      time.Time `json:"at"`
	Token   string    `json:"token,omitempty"` // token name; empty for a failed authentication
	Role    string    `json:"role,omitempty"`
	Remote  string    `json:"remote,omitempty"`
	Action  string    `json:"action"`            // connect, auth_failure, run, input_start, input_end, quick_reply, cancel, token_create, token_revoke
	Subject string    `json:"subject,omitempty"` // command or agent id, token name
	Result  string    `json:"result"`            // ok, denied, error
	Detail  string    `json:"detail,omitempty"`
}

// Strings is a map of names to values (labels, environment).
type Strings map[string]string

// UnmarshalJSON decodes into a map made here: the JSON decoder would make
// one sized for 64 entries (4.7 kB) however few it holds, and an agent's
// two labels would then cost more than the rest of its connection.
func (s *Strings) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = nil
		return nil
	}
	m := make(map[string]string)
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*s = m
	return nil
}
