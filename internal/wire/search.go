package wire

import "time"

// SearchQuery asks for lines of stored output that match Query, newest
// first, of the commands of the agents the dashboard may see. Query is
// words and "quoted phrases", all of which a line must hold (a word's
// letters and digits, in any case; a trailing * makes it a prefix).
type SearchQuery struct {
	RequestID string    `json:"request_id,omitempty"`
	Query     string    `json:"query"`
	Agent     string    `json:"agent,omitempty"`   // id or name: only this agent's commands
	Labels    Strings   `json:"labels,omitempty"`  // only commands of agents with all these labels
	Since     time.Time `json:"since,omitzero"`    // only commands created at or after it
	Before    int64     `json:"before,omitempty"`  // only hits older than this cursor: the next page
	Limit     int       `json:"limit,omitempty"`   // 0 means 50; at most 1000
	Context   int       `json:"context,omitempty"` // lines before and after each hit; at most 10
}

// SearchResult answers SearchQuery. Next, when set, is the Before of the
// next page: there may be older hits.
type SearchResult struct {
	RequestID string      `json:"request_id,omitempty"`
	Hits      []SearchHit `json:"hits"`
	Next      int64       `json:"next,omitempty"`
}

// SearchHit is a line that matched: its command, its number among the
// command's non-blank lines (from 0), the offset of its first byte in the
// command's output (subscribe there to see it), its text without escape
// sequences, and the lines around it.
type SearchHit struct {
	Cursor    int64     `json:"cursor"`
	CommandID string    `json:"command_id"`
	Command   string    `json:"command"` // the command line
	AgentID   string    `json:"agent_id"`
	AgentName string    `json:"agent_name"`
	CreatedAt time.Time `json:"created_at"` // the command's
	Line      int64     `json:"line"`
	Offset    int64     `json:"offset"`
	Text      string    `json:"text"`
	Before    []string  `json:"before,omitempty"`
	After     []string  `json:"after,omitempty"`
}

func (*SearchQuery) MessageType() string  { return TypeSearchQuery }
func (*SearchResult) MessageType() string { return TypeSearchResult }
