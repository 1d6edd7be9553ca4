package agent

import (
	"bytes"
	"strings"
	"testing"
)

func TestTermScanner(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		bell   bool
		notice string // "" with notified false
		title  string // "" with titled false
	}{
		{name: "plain text", in: "building...\r\n"},
		{name: "brackets", in: "[1, 2] ok]]\r\n"},
		{name: "colours", in: "\x1b[1;31merror\x1b[0m\r\n"},
		{name: "bell", in: "ding\a", bell: true},
		{name: "osc 9 with BEL", in: "\x1b]9;Build done\a", notice: "Build done"},
		{name: "osc 9 with ST", in: "\x1b]9;Deploy? yes/no\x1b\\", notice: "Deploy? yes/no"},
		{name: "osc 9;4 progress is not a notification", in: "\x1b]9;4;1;50\a"},
		{name: "osc 9;9 cwd is not a notification", in: "\x1b]9;9;/home\x1b\\"},
		{name: "osc 777 notify", in: "\x1b]777;notify;Claude;Needs permission\a", notice: "Claude: Needs permission"},
		{name: "osc 777 other", in: "\x1b]777;precmd\a"},
		{name: "osc 99 plain", in: "\x1b]99;;Hello there\x1b\\", notice: "Hello there"},
		{name: "osc 99 base64 title", in: "\x1b]99;i=1:e=1:p=title;SGVsbG8=\x1b\\", notice: "Hello"},
		{name: "osc 99 close", in: "\x1b]99;i=1:p=close;\x1b\\"},
		{name: "title osc 0", in: "\x1b]0;vim README.md\a", title: "vim README.md"},
		{name: "title osc 2", in: "\x1b]2;make test\x1b\\", title: "make test"},
		{name: "icon name osc 1 ignored", in: "\x1b]1;icon\a"},
		{name: "bell inside dcs is not a bell", in: "\x1bPq\a#0\x1b\\after"},
		{name: "title and bell", in: "\x1b]0;t\a\a", title: "t", bell: true},
		{name: "control characters cleaned", in: "\x1b]9;a\tb\x01c  d \a", notice: "a b c d"},
		{name: "clipboard data skipped", in: "\x1b]52;c;" + strings.Repeat("QUFB", 1000) + "\a"},
		{name: "esc esc", in: "\x1b\x1b]9;x\a", notice: "x"},
		{name: "aborted osc", in: "\x1b]9;half\x1b[0m\a", bell: true},
	}
	for _, tt := range tests {
		// Whole, and split at every byte: sequences cross reads.
		for split := 0; split <= len(tt.in); split++ {
			if split > 0 && split < len(tt.in) && len(tt.in) > 200 && split%97 != 0 {
				continue
			}
			var s termScanner
			var res scanResult
			s.scan([]byte(tt.in[:split]), &res)
			s.scan([]byte(tt.in[split:]), &res)
			if res.bell != tt.bell || res.notified != (tt.notice != "") || res.notice != tt.notice ||
				res.titled != (tt.title != "") || res.title != tt.title {
				t.Fatalf("%s split at %d: got %+v", tt.name, split, res)
			}
		}
	}
}

func TestLastLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Name? ", "Name?"},
		{"line one\r\nContinue? [y/N] ", "Continue? [y/N]"},
		{"progress 10%\rprogress 100%\r\nOK? ", "OK?"},
		{"\x1b[1mBold?\x1b[0m \x1b[K", "Bold?"},
		{"question\r\n\r\n   \r\n", "question"},
		{"\x1b]0;title\aprompt> ", "prompt>"},
		{"50%\r   \r", "50%"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := lastLine([]byte(tt.in)); got != tt.want {
			t.Errorf("lastLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOutputTail(t *testing.T) {
	var tail outputTail
	var all []byte
	for i := range 300 {
		chunk := bytes.Repeat([]byte{byte('a' + i%26)}, i%17)
		tail.write(chunk)
		all = append(all, chunk...)
		want := all[max(len(all)-tailSize, 0):]
		if got := tail.bytes(); !bytes.Equal(got, want) {
			t.Fatalf("after %d writes: tail is %d bytes, want the last %d", i, len(got), len(want))
		}
	}
	tail.write(bytes.Repeat([]byte("x"), 3*tailSize))
	if got := tail.bytes(); len(got) != tailSize || got[0] != 'x' {
		t.Fatalf("a write longer than the tail leaves %d bytes", len(got))
	}
}

// Output as build tools print it: coloured, a few escapes per line.
func colouredOutput(n int) []byte {
	line := []byte("\x1b[32m  ok  \x1b[0m switchboard/internal/relay\t12.345s \x1b[2m(cached)\x1b[0m\r\n")
	return bytes.Repeat(line, n/len(line)+1)[:n]
}

// BenchmarkTermScan measures the scanner on a terminal read (32 KiB, the
// agent's read size) of plain and of coloured output. It runs on every
// read of every command, so it must stay far below the cost of the read.
func BenchmarkTermScan(b *testing.B) {
	inputs := map[string][]byte{
		"plain":    bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog\r\n"), readSize/45+1)[:readSize],
		"coloured": colouredOutput(readSize),
	}
	for name, in := range inputs {
		b.Run(name, func(b *testing.B) {
			var s termScanner
			var res scanResult
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				s.scan(in, &res)
			}
		})
	}
}

// BenchmarkOutputTail is the other per-read cost: keeping the last KiB.
func BenchmarkOutputTail(b *testing.B) {
	in := colouredOutput(readSize)
	var tail outputTail
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		tail.write(in)
	}
}
