package agent

import (
	"bytes"
	"encoding/base64"
	"strings"

	"switchboard/internal/wire"
)

// Terminal bytes the scanner looks for.
const (
	bel = 0x07
	esc = 0x1b
)

// maxOSC bounds the payload of one OSC sequence the scanner keeps; longer
// ones (OSC 52 clipboard data, images) are skipped, not stored.
const maxOSC = 1024

// scanState is where termScanner is inside an escape sequence.
type scanState uint8

const (
	scanGround scanState = iota
	scanEsc              // after ESC
	scanOSC              // inside ESC ] … (BEL or ESC \ ends it)
	scanOSCEsc           // ESC inside an OSC: ESC \ ends it
	scanString           // inside DCS, SOS, PM or APC: only ESC \ ends it
	scanStringEsc
)

// termScanner finds, in a command's output as it is read, what asks for a
// person: a bell (BEL outside any sequence) and the notification sequences
// OSC 9, OSC 777;notify and OSC 99; and the window title (OSC 0 and 2).
// It keeps its state across reads, so a sequence split between two reads
// is still found. It is owned by the command's reader goroutine.
//
// It is on the output hot path, so it only looks at ESC and BEL bytes
// (bytes.IndexByte) and allocates only when it finds a sequence it keeps.
type termScanner struct {
	state scanState
	osc   []byte // the OSC payload so far
	over  bool   // the payload passed maxOSC: ignore it
}

// scanResult is what one scan found; the last of each kind wins.
type scanResult struct {
	bell     bool
	notified bool
	notice   string // the notification's text, cleaned
	titled   bool
	title    string
}

// scan reads b, carrying sequence state over to the next call.
func (s *termScanner) scan(b []byte, res *scanResult) {
	if s.state == scanGround && bytes.IndexByte(b, bel) < 0 && !hasOSC(b) {
		// Most reads: nothing to find. Only where the read leaves off
		// matters, and that depends on its last ESC alone.
		s.state = stateAfterLastEsc(b)
		return
	}
	for len(b) > 0 {
		switch s.state {
		case scanGround:
			i := bytes.IndexByte(b, esc)
			head := b
			if i >= 0 {
				head = b[:i]
			}
			if bytes.IndexByte(head, bel) >= 0 {
				res.bell = true
			}
			if i < 0 {
				return
			}
			b, s.state = b[i+1:], scanEsc
		case scanEsc:
			b = s.afterEsc(b)
		case scanOSC:
			i := indexOSCEnd(b)
			if i < 0 {
				s.keep(b)
				return
			}
			s.keep(b[:i])
			if b[i] == bel {
				s.finishOSC(res)
				s.state = scanGround
			} else {
				s.state = scanOSCEsc
			}
			b = b[i+1:]
		case scanOSCEsc:
			if b[0] == '\\' {
				s.finishOSC(res)
				s.state, b = scanGround, b[1:]
			} else {
				s.state = scanEsc // an ESC that starts something else aborts the OSC
			}
		case scanString:
			i := bytes.IndexByte(b, esc)
			if i < 0 {
				return
			}
			b, s.state = b[i+1:], scanStringEsc
		case scanStringEsc:
			if b[0] == '\\' {
				s.state, b = scanGround, b[1:]
			} else {
				s.state = scanString
			}
		}
	}
}

// hasOSC reports whether b holds ESC ]. It looks for the ']', which is
// rare in output, where ESC is common (every colour change): bytes.Index
// of the pair was 40 times slower on coloured output than this.
func hasOSC(b []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], ']')
		if j < 0 {
			return false
		}
		i += j
		if i > 0 && b[i-1] == esc {
			return true
		}
		i++
	}
}

// stateAfterLastEsc is the state after b, read from ground, when b holds
// no BEL and no OSC: a string (DCS and the like) its last ESC starts and
// nothing ends, a pending ESC, or ground.
func stateAfterLastEsc(b []byte) scanState {
	if bytes.IndexByte(b, esc) < 0 {
		return scanGround // and LastIndexByte, a byte loop, need not walk all of b
	}
	i := bytes.LastIndexByte(b, esc)
	switch {
	case i == len(b)-1:
		return scanEsc
	}
	switch b[i+1] {
	case 'P', 'X', '^', '_':
		return scanString
	}
	return scanGround
}

// afterEsc handles the byte after an ESC.
func (s *termScanner) afterEsc(b []byte) []byte {
	switch b[0] {
	case ']':
		s.state, s.osc, s.over = scanOSC, s.osc[:0], false
	case 'P', 'X', '^', '_': // DCS, SOS, PM, APC: strings whose bytes mean nothing here
		s.state = scanString
	case esc:
		return b[1:] // ESC ESC: the second one starts the sequence
	default:
		s.state = scanGround // CSI and the rest: their bytes are printable, ground skips them
	}
	return b[1:]
}

// indexOSCEnd finds the BEL or ESC that ends (or may end) an OSC payload.
func indexOSCEnd(b []byte) int {
	i := bytes.IndexByte(b, esc)
	head := b
	if i >= 0 {
		head = b[:i]
	}
	if j := bytes.IndexByte(head, bel); j >= 0 {
		return j
	}
	return i
}

func (s *termScanner) keep(b []byte) {
	if s.over {
		return
	}
	if len(s.osc)+len(b) > maxOSC {
		s.over = true
		return
	}
	s.osc = append(s.osc, b...)
}

// finishOSC interprets a complete OSC payload.
func (s *termScanner) finishOSC(res *scanResult) {
	if s.over {
		return
	}
	num, rest, ok := strings.Cut(string(s.osc), ";")
	if !ok {
		return
	}
	switch num {
	case "0", "2":
		res.titled, res.title = true, wire.CleanText(rest, wire.MaxTitle)
	case "9":
		if !conEmuCommand(rest) {
			res.notified, res.notice = true, wire.CleanText(rest, wire.MaxAttentionReason)
		}
	case "777":
		if kind, text, _ := strings.Cut(rest, ";"); kind == "notify" {
			title, body, _ := strings.Cut(text, ";")
			res.notified, res.notice = true, wire.CleanText(joinNonEmpty(title, body), wire.MaxAttentionReason)
		}
	case "99":
		if text, ok := kittyNotification(rest); ok {
			res.notified, res.notice = true, wire.CleanText(text, wire.MaxAttentionReason)
		}
	}
}

// conEmuCommand reports whether an OSC 9 payload is one of ConEmu's and
// Windows Terminal's numbered commands (9;4 is a progress bar) rather
// than iTerm2's notification text.
func conEmuCommand(p string) bool {
	n, _, _ := strings.Cut(p, ";")
	if n == "" {
		return false
	}
	for _, r := range n {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// kittyNotification reads kitty's OSC 99 "metadata;payload": a title or
// body is a notification; closing, queries and icons are not.
func kittyNotification(p string) (string, bool) {
	meta, payload, ok := strings.Cut(p, ";")
	if !ok {
		return "", false
	}
	encoded := false
	for _, kv := range strings.Split(meta, ":") {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "p" && v != "title" && v != "body":
			return "", false
		case k == "e" && v == "1":
			encoded = true
		}
	}
	if encoded {
		b, err := base64.StdEncoding.DecodeString(payload)
		if err != nil {
			return "", false
		}
		payload = string(b)
	}
	return payload, true
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ": " + b
}
