package wire

import (
	"fmt"
	"strings"
)

// Line renders what a command runs as one line for people to read (the
// TUI, the CLI, the audit trail, --notify-url): its shell text, or its
// argv joined by spaces, each argument that is empty or holds spaces,
// quotes, backslashes or $ quoted as a Go string.
func (s CommandSpec) Line() string {
	if s.Shell != "" {
		return s.Shell
	}
	parts := make([]string, len(s.Argv))
	for i, a := range s.Argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$") {
			a = fmt.Sprintf("%q", a)
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}
