package agent

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"switchboard/internal/wire"
)

// shellControl are the characters with which a shell command can do more
// than run the program it starts with: chain or background another
// command, redirect, substitute a command, expand a variable.
const shellControl = ";&|<>()$`\n\r"

// maxQuoted bounds the command line quoted in a rejection reason.
const maxQuoted = 200

// allowList is the agent's --allow patterns, with the environment
// variables (--allow-env) and working directories (--allow-cwd) a command
// may set. No patterns allows everything.
//
// A pattern checks the command line alone, and what a program does also
// depends on where and with what it runs: make reads the Makefile of its
// working directory, and MAKEFLAGS, PATH or LD_PRELOAD change what runs.
// So on an agent with patterns, a command that sets a variable or a
// working directory the agent does not permit is refused; the program is
// found on the agent's own PATH, never on one a dashboard sends.
type allowList struct {
	patterns []string
	env      map[string]bool
	cwds     []string // cleaned, symbolic links resolved
}

func newAllowList(patterns, env, cwds []string) (allowList, error) {
	l := allowList{patterns: patterns, env: map[string]bool{}}
	for _, p := range patterns {
		if p == "" {
			return l, errors.New("an allow pattern is empty; it would match no command")
		}
	}
	if len(patterns) == 0 && (len(env) > 0 || len(cwds) > 0) {
		return l, errors.New("--allow-env and --allow-cwd loosen --allow: give --allow patterns too (without them every command may run)")
	}
	for _, name := range env {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			return l, fmt.Errorf("--allow-env %q is not a variable name", name)
		}
		l.env[name] = true
	}
	for _, dir := range cwds {
		real, err := realDir(dir)
		if err != nil {
			return l, fmt.Errorf("--allow-cwd %s: %w", dir, err)
		}
		l.cwds = append(l.cwds, real)
	}
	return l, nil
}

// realDir is dir as an absolute path with symbolic links resolved.
func realDir(dir string) (string, error) {
	if !filepath.IsAbs(dir) {
		return "", errors.New("give an absolute path")
	}
	return filepath.EvalSymlinks(filepath.Clean(dir))
}

// check returns why spec may not run here, or "" if it may.
func (l allowList) check(spec wire.CommandSpec) string {
	if len(l.patterns) == 0 {
		return ""
	}
	if reason := l.checkEnv(spec.Env); reason != "" {
		return reason
	}
	if reason := l.checkCwd(spec.Cwd); reason != "" {
		return reason
	}
	line, shell := matchSubject(spec)
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

// checkEnv refuses a variable the agent does not permit.
func (l allowList) checkEnv(env map[string]string) string {
	names := slices.Sorted(maps.Keys(env))
	for _, name := range names {
		if !l.env[name] {
			return fmt.Sprintf("not allowed on this agent: the command sets %s, which no --allow-env permits (a variable can change what an allowed program runs)",
				quoteShort(name))
		}
	}
	return ""
}

// checkCwd refuses a working directory the agent does not permit: only
// one of the --allow-cwd directories itself, after resolving links.
func (l allowList) checkCwd(cwd string) string {
	if cwd == "" {
		return ""
	}
	real, err := realDir(cwd)
	if err == nil && slices.Contains(l.cwds, real) {
		return ""
	}
	return fmt.Sprintf("not allowed on this agent: the working directory %s is not one --allow-cwd permits (a directory can change what an allowed program runs, as a Makefile there does)",
		quoteShort(cwd))
}

func (l allowList) matches(line string, wild func(rune) bool) bool {
	for _, p := range l.patterns {
		if match(p, line, wild) {
			return true
		}
	}
	return false
}

// matchSubject is what allow patterns are matched against, and whether it
// is shell text: argv joined by single spaces, as patterns are written
// (make test), not the quoted line people are shown (wire.CommandSpec.Line).
func matchSubject(spec wire.CommandSpec) (line string, shell bool) {
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
