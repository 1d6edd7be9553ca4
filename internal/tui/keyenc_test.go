package tui

import (
	"testing"

	tea "charm.land/bubbletea/v2"
)

func TestEncodeKey(t *testing.T) {
	cases := []struct {
		key  string
		app  bool
		want string
	}{
		{"a", false, "a"},
		{"A", false, "A"},
		{"é", false, "é"},
		{"space", false, " "},
		{"enter", false, "\r"},
		{"tab", false, "\t"},
		{"shift+tab", false, "\x1b[Z"},
		{"backspace", false, "\x7f"},
		{"esc", false, "\x1b"},
		{"ctrl+a", false, "\x01"},
		{"ctrl+c", false, "\x03"},
		{"ctrl+d", false, "\x04"},
		{"ctrl+z", false, "\x1a"},
		{"ctrl+space", false, "\x00"},
		{"ctrl+\\", false, "\x1c"},
		{"ctrl+]", false, "\x1d"},
		{"ctrl+shift+c", false, "\x03"},
		{"alt+x", false, "\x1bx"},
		{"alt+ctrl+c", false, "\x1b\x03"},
		{"up", false, "\x1b[A"},
		{"up", true, "\x1bOA"},
		{"left", true, "\x1bOD"},
		{"ctrl+left", true, "\x1b[1;5D"},
		{"shift+up", false, "\x1b[1;2A"},
		{"alt+right", false, "\x1b[1;3C"},
		{"home", false, "\x1b[H"},
		{"end", true, "\x1bOF"},
		{"pgup", false, "\x1b[5~"},
		{"ctrl+pgdown", false, "\x1b[6;5~"},
		{"f5", false, "\x1b[15~"},
	}
	for _, c := range cases {
		k := keyMsg(c.key)
		if c.key == "A" {
			k = tea.KeyPressMsg{Code: 'a', ShiftedCode: 'A', Mod: tea.ModShift, Text: "A"}
		}
		if got := string(encodeKey(k.Key(), termModes{appCursor: c.app})); got != c.want {
			t.Errorf("%s (app cursor %v): %q, want %q", c.key, c.app, got, c.want)
		}
	}
	for code, want := range map[rune]string{tea.KeyF1: "\x1bOP", tea.KeyDelete: "\x1b[3~", tea.KeyInsert: "\x1b[2~"} {
		if got := string(encodeKey(tea.Key{Code: code}, termModes{})); got != want {
			t.Errorf("%U: %q, want %q", code, got, want)
		}
	}
	if b := encodeKey(tea.Key{Code: tea.KeyLeftShift}, termModes{}); len(b) != 0 {
		t.Errorf("a bare modifier sends %q", b)
	}
}

func TestEncodePaste(t *testing.T) {
	if got := string(encodePaste("x\ny", termModes{})); got != "x\ny" {
		t.Errorf("plain paste %q", got)
	}
	if got := string(encodePaste("x", termModes{bracketedPaste: true})); got != "\x1b[200~x\x1b[201~" {
		t.Errorf("bracketed paste %q", got)
	}
}
