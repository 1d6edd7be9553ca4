package agent

import (
	"errors"
	"fmt"
	"strings"

	"switchboard/internal/wire"
)

// shellControl are the characters with which a shell command can do more
// than run the program it starts with: chain or background another
// command, redirect, substitute a command, expand a variable.
const shellControl = ";&|<>()$`\n\r"

// maxQuoted bounds the command line quoted in a rejection reason.
const maxQuoted = 200

// allowList is the agent's --allow patterns. Empty allows everything.
type allowList []string

func newAllowList(patterns []string) (allowList, error) {
	for _, p := range patterns {
		if p == "" {
			return nil, errors.New("an allow pattern is empty; it would match no command")
		}
	}
	return allowList(patterns), nil
}

// check returns why spec may not run here, or "" if it may.
func (l allowList) check(spec wire.CommandSpec) string {
	if len(l) == 0 {
		return ""
	}
	line, shell := commandLine(spec)
	wild := anyRune
	if shell {
		wild = notShellControl
	}
	if l.matches(line, wild) {
		return ""
	}
	reason := fmt.Sprintf("not allowed on this agent: %s matches no --allow pattern", quoteShort(line))
	if shell && l.matches(line, anyRune) {
		reason += " (in a shell command, * and ? do not match ; & | < > ( ) $ ` or line breaks)"
	}
	return reason
}

func (l allowList) matches(line string, wild func(rune) bool) bool {
	for _, p := range l {
		if match(p, line, wild) {
			return true
		}
	}
	return false
}

// commandLine is what allow patterns are matched against, and whether it
// is shell text.
func commandLine(spec wire.CommandSpec) (line string, shell bool) {
	if spec.Shell != "" {
		return spec.Shell, true
	}
	return strings.Join(spec.Argv, " "), false
}

func anyRune(rune) bool { return true }

func notShellControl(r rune) bool { return !strings.ContainsRune(shellControl, r) }

// match reports whether pattern matches all of s, where "*" matches any
// run of characters for which wild is true, "?" one such character, and
// any other character itself. It follows every way the pattern can match
// at once (the pattern positions reachable after each character of s), so
// it takes time proportional to len(pattern)·len(s) and never backtracks.
func match(pattern, s string, wild func(rune) bool) bool {
	p := []rune(pattern)
	cur, next := make([]bool, len(p)+1), make([]bool, len(p)+1)
	cur[0] = true
	skipStars(p, cur)
	for _, r := range s {
		clear(next)
		alive := false
		for i, at := range cur[:len(p)] {
			if !at {
				continue
			}
			switch {
			case p[i] == '*' && wild(r):
				next[i], alive = true, true
			case p[i] == '?' && wild(r), p[i] != '*' && p[i] != '?' && p[i] == r:
				next[i+1], alive = true, true
			}
		}
		if !alive {
			return false
		}
		skipStars(p, next)
		cur, next = next, cur
	}
	return cur[len(p)]
}

// skipStars adds, for every position at a "*", the position after it: a
// star may match nothing.
func skipStars(p []rune, at []bool) {
	for i, r := range p {
		if at[i] && r == '*' {
			at[i+1] = true
		}
	}
}

// quoteShort quotes s for a message, shortened if long.
func quoteShort(s string) string {
	if r := []rune(s); len(r) > maxQuoted {
		return fmt.Sprintf("%q…", string(r[:maxQuoted]))
	}
	return fmt.Sprintf("%q", s)
}
