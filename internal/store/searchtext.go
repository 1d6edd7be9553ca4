package store

import (
	"bytes"
	"strings"
)

// NextLines cuts the output data, which starts at offset off and at the
// beginning of a line numbered n, into lines as the index holds them, and
// returns the cursor after them. A line ends at "\n"; one of MaxIndexLine
// bytes ends there too. The rest (a line not ended yet) is left for the
// next call, which starts at the cursor's Off, unless end says no more
// output will come: then it is a line of its own.
func NextLines(data []byte, off, n int64, end bool) ([]IndexLine, int64, int64) {
	var lines []IndexLine
	for len(data) > 0 {
		i := bytes.IndexByte(data[:min(len(data), MaxIndexLine)], '\n')
		cut := i + 1
		if i < 0 {
			if len(data) < MaxIndexLine && !end {
				break
			}
			cut = min(len(data), MaxIndexLine)
		}
		if text := IndexText(data[:cut]); text != "" {
			lines = append(lines, IndexLine{N: n, Off: off, Text: text})
			n++
		}
		data, off = data[cut:], off+int64(cut)
	}
	return lines, off, n
}

// IndexText is a line of terminal output as the index holds it: escape
// sequences (CSI, OSC, DCS and the other strings, two- and three-byte
// ones) removed, tabs and carriage returns as spaces (a line a progress
// bar rewrote keeps every version of it), other control characters
// dropped, bytes that are not UTF-8 as U+FFFD, spaces at either end
// trimmed. A line of nothing but that is "": it is not indexed.
func IndexText(b []byte) string {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == 0x1b:
			i = skipEscape(b, i)
		case c == '\t' || c == '\r':
			out = append(out, ' ')
		case c < 0x20 || c == 0x7f:
		default:
			out = append(out, c)
		}
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(out), "\uFFFD"))
}

// skipEscape returns the index of the last byte of the escape sequence
// that begins at b[i] (ESC), or of the last byte of b if it is cut short.
func skipEscape(b []byte, i int) int {
	if i+1 >= len(b) {
		return i
	}
	switch b[i+1] {
	case '[': // CSI: parameters and intermediates up to a final byte
		for j := i + 2; j < len(b); j++ {
			if b[j] >= 0x40 && b[j] <= 0x7e {
				return j
			}
		}
		return len(b) - 1
	case ']', 'P', 'X', '^', '_': // strings: up to BEL or ST (ESC \)
		for j := i + 2; j < len(b); j++ {
			if b[j] == 0x07 {
				return j
			}
			if b[j] == 0x1b && j+1 < len(b) && b[j+1] == '\\' {
				return j + 1
			}
		}
		return len(b) - 1
	}
	j := i + 1
	for j < len(b)-1 && b[j] >= 0x20 && b[j] <= 0x2f { // intermediates, as in ESC ( B
		j++
	}
	return j
}
