package recording

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"switchboard/internal/proctest"
	"switchboard/internal/wire"
)

// writeCast writes output with the timeline's events, feeding the output
// in pieces of random sizes, and returns the file.
func writeCast(t *testing.T, tl *Timeline, output []byte, input bool, seed uint64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.cast")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewWriter(f, Header{Width: 80, Height: 24, Timestamp: time.Unix(1_800_000_000, 0), Command: "make test",
		Title: "box: make test", Term: "xterm-256color"}, tl, input)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	for off := 0; off < len(output); {
		n := min(1+rng.IntN(7), len(output)-off)
		if err := w.Output(int64(off), output[off:off+n]); err != nil {
			t.Fatal(err)
		}
		off += n
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// everyOffset is a timeline with an output event at every offset of n
// bytes, 10 ms apart, so that every character is cut by events somewhere.
func everyOffset(n int) *Timeline {
	var evs []wire.TimingEvent
	for i := range n {
		evs = append(evs, wire.TimingEvent{TimeMS: int64(10 * i), Kind: wire.EventOutput, Offset: int64(i)})
	}
	return NewTimeline(evs, int64(n), 80, 24)
}

// perByte is what a reader of text sees of output: each byte that is not
// part of valid UTF-8 replaced by U+FFFD.
func perByte(b []byte) []byte {
	var out []byte
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}

// TestAsciinemaCatReproducesOutput: for output that is valid UTF-8, with
// every kind of character cut by reads, events and pieces, and every
// control character, `asciinema cat` prints exactly the stored bytes.
func TestAsciinemaCatReproducesOutput(t *testing.T) {
	output := []byte("plain\r\n\x1b[1;31mred\x1b[0m é ñ → 漢字 😀🎉 \"quoted\" back\\slash\t\x00\x01\x07\x08\x7f\x1b]0;title\x07\r\n" +
		strings.Repeat("ü", 40000) + "end\r\n") // more than one event's worth of two-byte characters
	for seed := range uint64(3) {
		tl := everyOffset(300)
		if seed == 2 {
			tl = NewTimeline(nil, int64(len(output)), 80, 24) // no timing at all
		}
		got := proctest.AsciinemaCat(t, writeCast(t, tl, output, false, seed))
		if !bytes.Equal(got, output) {
			t.Fatalf("seed %d: asciinema cat printed %d bytes, the command %d; first difference at %d",
				seed, len(got), len(output), firstDiff(got, output))
		}
	}
}

// TestAsciinemaCatInvalidUTF8: bytes that are not UTF-8 come out as one
// U+FFFD each, and the valid text around them exactly.
func TestAsciinemaCatInvalidUTF8(t *testing.T) {
	output := []byte("a\xffb\x80c\xe2\x82d\xc3(\xed\xa0\x80 \xf8\x88\x80\x80\x80 ok é\xe2\x82")
	got := proctest.AsciinemaCat(t, writeCast(t, everyOffset(len(output)), output, false, 1))
	if want := perByte(output); !bytes.Equal(got, want) {
		t.Fatalf("asciinema cat printed %q, want %q", got, want)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// castLines reads a cast's header and events.
func castLines(t *testing.T, path string) (map[string]any, [][3]any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var head map[string]any
	var evs [][3]any
	for sc.Scan() {
		if head == nil {
			if err := json.Unmarshal(sc.Bytes(), &head); err != nil {
				t.Fatalf("header %s: %v", sc.Bytes(), err)
			}
			continue
		}
		var ev [3]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event %s: %v", sc.Bytes(), err)
		}
		evs = append(evs, ev)
	}
	return head, evs
}

// TestAsciicastEvents: the header, output at its recorded times, resizes
// as "r" events, input as "i" events only when asked for, times never
// going down.
func TestAsciicastEvents(t *testing.T) {
	evs := []wire.TimingEvent{
		{Kind: wire.EventResize, Cols: 80, Rows: 24},
		{TimeMS: 5, Kind: wire.EventOutput},
		{TimeMS: 1500, Kind: wire.EventInput, Offset: 3, Data: []byte("ls\r")},
		{TimeMS: 1502, Kind: wire.EventOutput, Offset: 3},
		{TimeMS: 2000, Kind: wire.EventResize, Offset: 6, Cols: 100, Rows: 30},
		{TimeMS: 2250, Kind: wire.EventOutput, Offset: 6},
	}
	output := []byte("$ ls\r\nfile\r\n")
	for _, input := range []bool{false, true} {
		head, got := castLines(t, writeCast(t, NewTimeline(evs, int64(len(output)), 80, 24), output, input, 5))
		if head["version"] != 2.0 || head["width"] != 80.0 || head["height"] != 24.0 || head["timestamp"] != 1.8e9 ||
			head["command"] != "make test" || head["title"] != "box: make test" || head["env"].(map[string]any)["TERM"] != "xterm-256color" {
			t.Fatalf("header %v", head)
		}
		var lines []string
		for _, e := range got {
			b, _ := json.Marshal(e)
			lines = append(lines, string(b))
		}
		want := []string{`[0.005,"o","$ l"]`, `[1.502,"o","s\r\n"]`, `[2,"r","100x30"]`, `[2.25,"o","file\r\n"]`}
		if input {
			want = []string{`[0.005,"o","$ l"]`, `[1.5,"i","ls\r"]`, `[1.502,"o","s\r\n"]`, `[2,"r","100x30"]`, `[2.25,"o","file\r\n"]`}
		}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Errorf("input %v: events\n%s\nwant\n%s", input, strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
	}
}
