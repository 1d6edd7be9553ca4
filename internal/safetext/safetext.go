// Package safetext makes text from other parties safe to print on a
// terminal. A name, label or command line comes from an agent or a
// dashboard; printed raw, its escape sequences would drive the reader's
// terminal (OSC 52 sets the clipboard, OSC 0 the window title, others
// move the cursor over what was printed before) and its bidirectional
// overrides would reorder what the reader sees.
package safetext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape returns s with every control character, bidirectional control
// and invalid byte written as a Go-style escape (\x1b, \t, \u202e,
// \xff), and everything else as it is. Text without them is returned
// unchanged, without a copy.
func Escape(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x100 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func clean(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || (r < 0x100 && unicode.IsControl(r)) || unsafeRune(r) {
			return false
		}
		i += n
	}
	return true
}

// unsafeRune reports the characters beyond Latin-1 that change how a
// terminal shows the text around them: bidirectional embeddings,
// overrides and isolates, and the line and paragraph separators.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// JSON returns encoded JSON with the characters a terminal would act on
// that encoding/json leaves raw (DEL, the C1 controls, bidirectional
// controls) written as \u escapes: the same JSON values, safe to print.
// Such characters can stand only inside strings, where the escape means
// the same character.
func JSON(b []byte) []byte {
	if clean(string(b)) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if (r < 0x100 && unicode.IsControl(r) && r >= 0x7f) || unsafeRune(r) {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}
