package tui

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"switchboard/internal/client"
	"switchboard/internal/proctest"
	"switchboard/internal/wire"
)

func TestTermFeedReturnsRepliesToWhatItParsed(t *testing.T) {
	tm := newTerm(80, 24)
	defer tm.close()
	tm.write([]byte("\x1b[c")) // a skip note's bytes: its reply is dropped, not kept for later
	n, replies := tm.feed([]byte("ab\x1b[6n"), time.Second)
	if n != 6 || len(replies) != 1 || string(replies[0]) != "\x1b[1;3R" {
		t.Fatalf("feed parsed %d bytes, replies %q; want 6 and the cursor report alone", n, replies)
	}
	if _, replies = tm.feed([]byte("plain"), time.Second); len(replies) != 0 {
		t.Fatalf("replies to plain text: %q", replies)
	}
}

func TestPaneAnswersOnlyLiveQueriesWhileInteractive(t *testing.T) {
	var sent []string
	st := newStream("c-1", 0, 0, t0)
	p := newPane(&common{st: defaultStyles()}, wire.Command{ID: "c-1", State: wire.StateRunning}, st,
		func(b []byte) { sent = append(sent, string(b)) })
	defer p.close()
	query := []byte("\x1b[c\x1b[6n\x1b]11;?\x07")

	st.add(0, query, t0) // history, parsed while watching
	p.step(time.Second)
	st.add(st.next, query, t0) // history still unparsed when the user takes the keyboard
	p.answer(true)
	p.step(time.Second)
	p.step(time.Second)
	if len(sent) != 0 {
		t.Fatalf("answered queries in output from before interactive mode: %q", sent)
	}
	st.add(st.next, []byte("\x1b[6n"), t0) // live, while interactive
	p.step(time.Second)
	if len(sent) != 1 || !strings.HasSuffix(sent[0], "R") {
		t.Fatalf("live cursor query answered with %q, want one cursor report", sent)
	}
	p.answer(false)
	st.add(st.next, query, t0)
	p.step(time.Second)
	if len(sent) != 1 {
		t.Fatalf("answered after interactive mode ended: %q", sent)
	}
}

func TestTermViewScrollback(t *testing.T) {
	tm := newTerm(20, 5)
	defer tm.close()
	for i := range 30 {
		tm.write([]byte("row " + string(rune('A'+i%26)) + "\r\n"))
	}
	lines, _ := tm.view(20, 5, 0)
	if got := ansi.Strip(lines[3]); strings.TrimSpace(got) != "row D" || len(got) != 20 {
		t.Fatalf("live line 3 = %q", got)
	}
	lines, _ = tm.view(20, 5, 10)
	if got := strings.TrimSpace(ansi.Strip(lines[0])); got != "row Q" {
		t.Fatalf("10 lines back, top = %q", got)
	}
	if tm.maxScroll() != 26 {
		t.Fatalf("maxScroll = %d", tm.maxScroll())
	}
}

func TestTermViewCropsTallScreenToCursor(t *testing.T) {
	tm := newTerm(10, 10)
	defer tm.close()
	tm.write([]byte("\x1b[10;1Hbottom"))
	lines, top := tm.view(10, 3, 0)
	if top != 7 || strings.TrimSpace(ansi.Strip(lines[2])) != "bottom" {
		t.Fatalf("top %d lines %q", top, lines)
	}
	tm.write([]byte("\x1b[2;1Hup"))
	if _, top = tm.view(10, 3, 0); top != 0 {
		t.Fatalf("cursor on row 2 shows from row %d", top)
	}
}

func TestTailCut(t *testing.T) {
	lines := bytes.Repeat([]byte("0123456789\n"), 1000)
	cases := []struct {
		name             string
		data             []byte
		maxBytes, maxLns int
		wantTail         string
	}{
		{"fits", []byte("a\nb\n"), 100, 10, "a\nb\n"},
		{"line cap", lines, 1 << 20, 3, "0123456789\n0123456789\n0123456789\n"},
		{"byte cap starts after a line feed", lines, 300, 100, strings.Repeat("0123456789\n", 27)},
		{"clear wins", append(append(bytes.Repeat([]byte("x\n"), 500), "\x1b[H\x1b[2Jtop"...), "\nmore\n"...), 1 << 20, 100, "\x1b[H\x1b[2Jtop\nmore\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cut := tailCut(c.data, max(c.maxBytes, 1), c.maxLns)
			if got := string(c.data[cut:]); !strings.HasPrefix(c.wantTail, got) && got != c.wantTail {
				t.Fatalf("tail = %q, want %q", got, c.wantTail)
			}
		})
	}
}

func TestStreamKeepsOffsetsAndTail(t *testing.T) {
	st := newStream("c", 0, 0, t0)
	st.add(0, []byte("hello "), t0)
	st.add(3, []byte("lo world"), t0) // overlaps: only " world"[2:] is new
	if got, at := st.from(0); string(got) != "hello world" || at != 0 {
		t.Fatalf("from 0 = %q at %d", got, at)
	}
	big := bytes.Repeat([]byte("z"), 2*retainBytes)
	st.add(11, big, t0)
	got, at := st.from(0)
	if at <= 0 || int64(len(got)) != st.next-at || len(got) > retainBytes+retainBytes/2 {
		t.Fatalf("after a flood: %d bytes from %d", len(got), at)
	}
	st.add(st.next+100, []byte("after a gap"), t0)
	if got, at := st.from(0); string(got) != "after a gap" || at != st.next-11 {
		t.Fatalf("after a gap: %q at %d", got, at)
	}
}

func TestSkipAheadMarksTheGap(t *testing.T) {
	h := newHarness(t, 100, 30, fourAgents()...)
	cmd := running("c-1", "a-1", "build-1", "flood", t0)
	h.events(client.CommandChanged{Command: cmd})
	h.send(openCommandMsg{cmd})
	p := h.m.panes.panes[0]
	flood := logFlood(4 << 20)
	h.send(eventsMsg{[]any{client.Output{CommandID: "c-1", Data: flood}, client.Output{CommandID: "c-1", Offset: int64(len(flood)), Data: []byte("THE END\r\n")}}})
	start := time.Now()
	h.send(frameMsg{})
	if el := time.Since(start); el > 200*time.Millisecond && !proctest.Race {
		t.Fatalf("one frame took %v", el)
	}
	if p.pending() != 0 {
		t.Fatalf("%d bytes still pending after one frame", p.pending())
	}
	h.contains("THE END", "skipped 4.0 MB")
	h.key("tab", "pgup")
	h.contains("··· skipped 4.0 MB of output ···")
	if n := strings.Count(h.screen(), "of output ···"); n != 1 {
		t.Fatalf("%d skip markers for one skip", n)
	}
	h.checkGeometry()
}
