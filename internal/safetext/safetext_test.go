package safetext

import "testing"

func TestEscape(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"build-1", "build-1"},
		{"ünïcode ✓ 名前", "ünïcode ✓ 名前"},
		{"x\x1b]52;c;aGk=\a", `x\x1b]52;c;aGk=\x07`},
		{"title\x1b]0;pwned\x1b\\", `title\x1b]0;pwned\x1b\`},
		{"a\tb\nc\rd", `a\tb\nc\rd`},
		{"\x9b31m C1", `\x9b31m C1`},       // U+009B, the one-character CSI
		{"bad \xff byte", `bad \xff byte`}, // invalid UTF-8
		{"evil\u202egnp.exe", `evil\u202egnp.exe`},
		{"del\x7f", `del\x7f`},
		{"", ""},
	} {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
