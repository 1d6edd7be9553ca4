package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Search is the full-text index of stored output: the lines of a
// command's output, ANSI escapes stripped (IndexText), in blocks of a few
// lines per row (Blocks), written by a
// background worker (the hub's indexer) after the output is stored and
// never in the persister's transaction. The worker keeps a cursor per
// command in the same transaction as the lines it writes, so a restarted
// relay resumes where the last one stopped.
type Search interface {
	// IndexBacklog returns the cursor of every command whose output may not
	// be all indexed: those with no cursor yet and those not Done.
	IndexBacklog(ctx context.Context) ([]IndexCursor, error)
	// Index writes each update's lines and moves its command's cursor, all
	// in one transaction. An update for a command that is not stored (it
	// was deleted meanwhile) is skipped, and so are the lines its stored
	// cursor has passed (so writing lines again is harmless); a cursor
	// never moves back.
	Index(ctx context.Context, us []IndexUpdate) error
	// Search returns the lines that match q, newest first.
	Search(ctx context.Context, q SearchQuery) ([]SearchHit, error)
	// DeleteIndex removes the index rows and cursors of these commands.
	// (Retention's Pruner.RemoveStep removes them with the rest of a
	// command: sqlrow.PerCommandTables.)
	DeleteIndex(ctx context.Context, commandIDs []string) error
}

// IndexCursor is how far a command's output is indexed: lines before Off
// are, numbered up to Line-1. Final says the command's state is final;
// Done that its output is indexed to its end.
type IndexCursor struct {
	CommandID string
	Off       int64
	Line      int64
	Final     bool
	Done      bool
}

// IndexUpdate is one command's next lines, numbered from the cursor's
// Line on, and the cursor after them.
type IndexUpdate struct {
	Lines  []IndexLine
	Cursor IndexCursor
}

// IndexLine is one line of output as indexed: its number among the
// command's indexed lines (from 0; lines blank once stripped are not
// indexed), the offset of its first byte, and its text (IndexText).
type IndexLine struct {
	N    int64
	Off  int64
	Text string
}

// SearchQuery selects lines for Search.
type SearchQuery struct {
	Terms []SearchTerm // all must match (ParseSearch)
	// AgentIDs, when not nil, keeps only these agents' commands (an empty
	// list keeps none): the agents asked for, as a scoped token may see.
	AgentIDs []string
	Since    time.Time // when not zero, only commands created at or after it
	Before   int64     // when > 0, only hits older than the one of this Cursor (paging)
	Limit    int       // PageSize applies
	Context  int       // lines before and after each hit, at most MaxSearchContext
}

// SearchHit is one matching line.
type SearchHit struct {
	Cursor    int64 // the hit's place in index order: pass as Before for the next page
	CommandID string
	Command   string // its command line (wire.CommandSpec.Line)
	AgentID   string
	AgentName string
	CreatedAt time.Time // the command's
	Line      int64     // its number in the command's output, from 0
	Offset    int64     // of its first byte in the command's output
	Text      string
	Before    []string // up to Context lines before it, in order
	After     []string // up to Context lines after it
}

// Limits of the index and of a query.
const (
	MaxIndexLine     = 4 << 10 // a longer line is indexed in pieces of this many bytes
	MaxSearchQuery   = 512     // bytes of a query
	MaxSearchTerms   = 16
	MaxSearchContext = 10
)

// ErrBadQuery is wrapped by errors about a query's text.
var ErrBadQuery = errors.New("bad search query")

// SearchTerm is a word or a quoted phrase of the query: its tokens must
// appear in a line in this order, next to each other; with Prefix the
// last may be the beginning of a longer one.
type SearchTerm struct {
	Tokens []string
	Prefix bool
}

// ParseSearch splits a query into terms. A term is a run of characters
// without spaces or a "quoted phrase"; a trailing * makes its last token a
// prefix. Tokens are the runs of letters and digits of a term, lower case,
// so `panic:` finds "panic: runtime error" and `exit-code` finds "exit
// code". There are no operators: every term must match.
func ParseSearch(q string) ([]SearchTerm, error) {
	if len(q) > MaxSearchQuery {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBadQuery, len(q), MaxSearchQuery)
	}
	if !utf8.ValidString(q) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrBadQuery)
	}
	var terms []SearchTerm
	rest := strings.TrimSpace(q)
	for rest != "" {
		var raw string
		if rest[0] == '"' {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("%w: the quote before %q is not closed", ErrBadQuery, rest[1:])
			}
			raw, rest = rest[1:1+end], rest[2+end:]
			if strings.HasPrefix(rest, "*") {
				raw, rest = raw+"*", rest[1:]
			}
		} else {
			end := strings.IndexFunc(rest, unicode.IsSpace)
			if end < 0 {
				end = len(rest)
			}
			raw, rest = rest[:end], rest[end:]
		}
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		t := SearchTerm{Tokens: Tokens(raw), Prefix: strings.HasSuffix(raw, "*")}
		if len(t.Tokens) == 0 {
			return nil, fmt.Errorf("%w: %q has no letters or digits to search for", ErrBadQuery, raw)
		}
		terms = append(terms, t)
	}
	if len(terms) == 0 {
		return nil, fmt.Errorf("%w: the query is empty", ErrBadQuery)
	}
	if len(terms) > MaxSearchTerms {
		return nil, fmt.Errorf("%w: %d terms, at most %d", ErrBadQuery, len(terms), MaxSearchTerms)
	}
	return terms, nil
}

// Tokens are the runs of letters and digits of s, lower case: the words
// both stores index a line by (SQLite's unicode61 tokenizer splits the
// same way).
func Tokens(s string) []string { return lowerTokens(strings.ToLower(s)) }

// lowerTokens is Tokens of a string already in lower case.
func lowerTokens(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
}
