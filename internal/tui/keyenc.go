package tui

import (
	"fmt"

	tea "charm.land/bubbletea/v2"
)

// termModes are the terminal modes of a remote program that change which
// bytes a key sends. The pane's emulator tracks them from the output.
type termModes struct {
	appCursor      bool // DECCKM: cursor keys send ESC O x
	bracketedPaste bool // mode 2004: pastes are wrapped in ESC[200~ … ESC[201~
}

// encodeKey returns the bytes an xterm-like terminal sends to a program for
// a key press, or nil for keys that send nothing (bare modifiers, media
// keys). Ctrl, Alt and Shift combinations follow xterm's conventions.
func encodeKey(k tea.Key, modes termModes) []byte {
	mod := k.Mod &^ (tea.ModCapsLock | tea.ModNumLock | tea.ModScrollLock)
	if seq, ok := specialKey(k.Code, mod, modes); ok {
		return []byte(seq)
	}
	alt := mod.Contains(tea.ModAlt) || mod.Contains(tea.ModMeta)
	mod &^= tea.ModAlt | tea.ModMeta
	var out []byte
	switch {
	case mod.Contains(tea.ModCtrl):
		b, ok := ctrlByte(k.Code)
		if !ok {
			return nil
		}
		out = []byte{b}
	case k.Code == tea.KeyBackspace:
		out = []byte{0x7f}
	case k.Code == tea.KeyEnter:
		out = []byte{'\r'}
	case k.Code == tea.KeyEscape:
		out = []byte{0x1b}
	case k.Code == tea.KeyTab && mod.Contains(tea.ModShift):
		return []byte("\x1b[Z")
	case k.Code == tea.KeyTab:
		out = []byte{'\t'}
	case k.Text != "":
		out = []byte(k.Text)
	case k.Code == tea.KeySpace:
		out = []byte{' '}
	case k.Code > 0 && k.Code < tea.KeyExtended:
		r := k.Code
		if mod.Contains(tea.ModShift) && k.ShiftedCode != 0 {
			r = k.ShiftedCode
		}
		out = []byte(string(r))
	default:
		return nil
	}
	if alt {
		out = append([]byte{0x1b}, out...)
	}
	return out
}

// ctrlByte maps a key pressed with Ctrl to its C0 control byte.
func ctrlByte(code rune) (byte, bool) {
	switch {
	case code >= 'a' && code <= 'z':
		return byte(code-'a') + 1, true
	case code >= 'A' && code <= 'Z':
		return byte(code-'A') + 1, true
	}
	switch code {
	case '@', ' ', '2':
		return 0x00, true
	case '[', '3':
		return 0x1b, true
	case '\\', '4':
		return 0x1c, true
	case ']', '5':
		return 0x1d, true
	case '^', '6', '~':
		return 0x1e, true
	case '_', '7', '/', '-':
		return 0x1f, true
	case '8', '?', tea.KeyBackspace:
		return 0x08, true
	case tea.KeyEnter:
		return '\r', true
	case tea.KeyTab:
		return '\t', true
	case tea.KeyEscape:
		return 0x1b, true
	}
	return 0, false
}

// xtermMod is xterm's modifier parameter: 1 + shift(1) + alt(2) + ctrl(4) +
// meta(8), or 0 for no modifier.
func xtermMod(m tea.KeyMod) int {
	p := 0
	if m.Contains(tea.ModShift) {
		p |= 1
	}
	if m.Contains(tea.ModAlt) {
		p |= 2
	}
	if m.Contains(tea.ModCtrl) {
		p |= 4
	}
	if m.Contains(tea.ModMeta) {
		p |= 8
	}
	if p == 0 {
		return 0
	}
	return p + 1
}

// cursorKeys end in a letter (ESC [ A, or ESC O A in application mode).
var cursorKeys = map[rune]byte{
	tea.KeyUp: 'A', tea.KeyDown: 'B', tea.KeyRight: 'C', tea.KeyLeft: 'D',
	tea.KeyHome: 'H', tea.KeyEnd: 'F', tea.KeyBegin: 'E',
}

// ss3Keys are F1–F4, sent as ESC O P … S.
var ss3Keys = map[rune]byte{tea.KeyF1: 'P', tea.KeyF2: 'Q', tea.KeyF3: 'R', tea.KeyF4: 'S'}

// tildeKeys are sent as ESC [ n ~.
var tildeKeys = map[rune]int{
	tea.KeyInsert: 2, tea.KeyDelete: 3, tea.KeyPgUp: 5, tea.KeyPgDown: 6,
	tea.KeyF5: 15, tea.KeyF6: 17, tea.KeyF7: 18, tea.KeyF8: 19, tea.KeyF9: 20,
	tea.KeyF10: 21, tea.KeyF11: 23, tea.KeyF12: 24,
}

// specialKey encodes cursor, editing and function keys.
func specialKey(code rune, mod tea.KeyMod, modes termModes) (string, bool) {
	m := xtermMod(mod)
	if c, ok := cursorKeys[code]; ok {
		switch {
		case m != 0:
			return fmt.Sprintf("\x1b[1;%d%c", m, c), true
		case modes.appCursor:
			return "\x1bO" + string(c), true
		default:
			return "\x1b[" + string(c), true
		}
	}
	if c, ok := ss3Keys[code]; ok {
		if m != 0 {
			return fmt.Sprintf("\x1b[1;%d%c", m, c), true
		}
		return "\x1bO" + string(c), true
	}
	if n, ok := tildeKeys[code]; ok {
		if m != 0 {
			return fmt.Sprintf("\x1b[%d;%d~", n, m), true
		}
		return fmt.Sprintf("\x1b[%d~", n), true
	}
	return "", false
}

// encodePaste wraps pasted text the way the remote program asked for.
func encodePaste(text string, modes termModes) []byte {
	if modes.bracketedPaste {
		return []byte("\x1b[200~" + text + "\x1b[201~")
	}
	return []byte(text)
}
