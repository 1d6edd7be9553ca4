package agent

import (
	"bytes"

	"switchboard/internal/wire"
)

// tailSize is how much of a command's latest output the agent keeps to
// find the prompt it shows when it starts waiting.
const tailSize = 1024

// outputTail is the last tailSize bytes of a command's output, as a ring.
// Agent.mu guards it.
type outputTail struct {
	buf  [tailSize]byte
	pos  int  // where the next byte goes
	full bool // the ring has wrapped
}

func (t *outputTail) write(b []byte) {
	if len(b) >= tailSize {
		copy(t.buf[:], b[len(b)-tailSize:])
		t.pos, t.full = 0, true
		return
	}
	n := copy(t.buf[t.pos:], b)
	if n < len(b) {
		copy(t.buf[:], b[n:])
		t.full = true
	}
	t.pos = (t.pos + len(b)) % tailSize
	if t.pos == 0 && len(b) > 0 {
		t.full = true
	}
}

// bytes returns the tail in order.
func (t *outputTail) bytes() []byte {
	if !t.full {
		return bytes.Clone(t.buf[:t.pos])
	}
	return append(bytes.Clone(t.buf[t.pos:]), t.buf[:t.pos]...)
}

// lastLine is the last line of out that shows text once escape sequences
// are removed and carriage returns have overwritten what they overwrite:
// what a terminal shows on the line a prompt leaves the cursor on, for the
// common case of a program that prints its question and waits.
func lastLine(out []byte) string {
	lines := bytes.Split(stripEscapes(out), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		// After a carriage return the line is overwritten from its start:
		// the last non-blank segment is what shows.
		segs := bytes.Split(l, []byte("\r"))
		for j := len(segs) - 1; j >= 0; j-- {
			if s := wire.CleanText(string(segs[j]), wire.MaxAttentionReason); s != "" {
				return s
			}
		}
	}
	return ""
}

// stripEscapes drops escape sequences (CSI, OSC and other strings, and
// two-byte escapes) from terminal output, keeping text, CR and LF.
func stripEscapes(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != esc {
			out = append(out, c)
			continue
		}
		if i+1 >= len(b) {
			break
		}
		switch b[i+1] {
		case '[': // CSI: parameters, then a final byte 0x40-0x7e
			i += 2
			for i < len(b) && (b[i] < 0x40 || b[i] > 0x7e) {
				i++
			}
		case ']', 'P', 'X', '^', '_': // strings: up to BEL or ESC \
			i += 2
			for i < len(b) && b[i] != bel && !(b[i] == esc && i+1 < len(b) && b[i+1] == '\\') {
				i++
			}
			if i < len(b) && b[i] == esc {
				i++
			}
		default:
			i++
		}
	}
	return out
}
