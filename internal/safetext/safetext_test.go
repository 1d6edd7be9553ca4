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

func TestJSON(t *testing.T) {
	in := []byte("{\"n\":\"a\u009b31m\u202e\x7f\\u001b\",\"k\":\"ok ✓\"}")
	want := `{"n":"a\u009b31m\u202e\u007f\u001b","k":"ok ✓"}`
	if got := string(JSON(in)); got != want {
		t.Errorf("JSON(%q) = %q, want %q", in, got, want)
	}
	clean := []byte(`{"a":"b"}`)
	if got := JSON(clean); &got[0] != &clean[0] {
		t.Error("clean JSON was copied")
	}
}
