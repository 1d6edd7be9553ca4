package recording

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// frameString shows frames as "at:data" and "at:RcolsXrows".
func frameString(fs []Frame) string {
	var parts []string
	for _, f := range fs {
		if f.Resize() {
			parts = append(parts, fmt.Sprintf("%d:R%dx%d", f.At.Milliseconds(), f.Cols, f.Rows))
		} else {
			parts = append(parts, fmt.Sprintf("%d:%s", f.At.Milliseconds(), f.Data))
		}
	}
	return strings.Join(parts, " ")
}

const sampleOutput = "hello" + "abc" + "wxyz" + "end"

func TestFrames(t *testing.T) {
	tl := sampleTimeline()
	got := frameString(tl.Frames([]byte(sampleOutput)))
	want := "10:hello 20:abc 5000:R120x40 5010:wxyz 9100:end"
	if got != want {
		t.Errorf("frames %q, want %q", got, want)
	}
	// Less output than the timeline knows of: frames up to it, then the
	// resizes after it.
	if got, want := frameString(tl.Frames([]byte("hel"))), "10:hel 5000:R120x40"; got != want {
		t.Errorf("frames of a prefix %q, want %q", got, want)
	}
	// With an idle limit of 1 s, the 4.98 s pause and the 4 s one are cut.
	if got, want := frameString(tl.WithIdleLimit(time.Second).Frames([]byte(sampleOutput))),
		"10:hello 20:abc 1020:R120x40 1030:wxyz 2130:end"; got != want {
		t.Errorf("idle-limited frames %q, want %q", got, want)
	}
}

func TestPlayerAdvanceAndSeek(t *testing.T) {
	p := NewPlayer(sampleTimeline(), []byte(sampleOutput))
	if p.Duration() != 9100*time.Millisecond {
		t.Fatalf("duration %v", p.Duration())
	}
	steps := []struct {
		to   time.Duration
		want string
	}{
		{5 * time.Millisecond, ""},
		{10 * time.Millisecond, "10:hello"},
		{4 * time.Second, "20:abc"},
		{3 * time.Second, ""}, // Advance never goes back
		{6 * time.Second, "5000:R120x40 5010:wxyz"},
	}
	for _, s := range steps {
		if got := frameString(p.Advance(s.to)); got != s.want {
			t.Errorf("Advance(%v) = %q, want %q", s.to, got, s.want)
		}
	}
	if p.Offset() != 12 || p.Done() {
		t.Errorf("offset %d done %v after 6 s", p.Offset(), p.Done())
	}
	if at, ok := p.NextAt(); !ok || at != 9100*time.Millisecond {
		t.Errorf("next at %v %v", at, ok)
	}
	restart, fs := p.Seek(15 * time.Millisecond)
	if !restart || frameString(fs) != "10:hello" || p.Position() != 15*time.Millisecond {
		t.Errorf("seek back: restart %v, %q, at %v", restart, frameString(fs), p.Position())
	}
	restart, fs = p.Seek(time.Hour)
	if restart || frameString(fs) != "20:abc 5000:R120x40 5010:wxyz 9100:end" || !p.Done() || p.Position() != p.Duration() {
		t.Errorf("seek past the end: restart %v, %q, at %v", restart, frameString(fs), p.Position())
	}
	if restart, fs = p.Seek(-time.Second); !restart || len(fs) != 0 || p.Offset() != 0 {
		t.Errorf("seek before the start: restart %v, %q, offset %d", restart, frameString(fs), p.Offset())
	}
	for off, want := range map[int64]time.Duration{0: 10, 4: 10, 5: 20, 8: 5010, 14: 9100, 99: 9100} {
		if got := p.SeekOffset(off); got != want*time.Millisecond {
			t.Errorf("SeekOffset(%d) = %v, want %d ms", off, got, want)
		}
	}
}

func TestPlayerEmpty(t *testing.T) {
	p := NewPlayer(NewTimeline(nil, 0, 80, 24), nil)
	if !p.Done() || p.Duration() != 0 || len(p.Advance(time.Second)) != 0 {
		t.Errorf("an empty recording: done %v, duration %v", p.Done(), p.Duration())
	}
	// Output recorded without timing is all at time 0.
	p = NewPlayer(NewTimeline(nil, 3, 80, 24), []byte("abc"))
	if got := frameString(p.Advance(0)); got != "0:abc" {
		t.Errorf("untimed output: %q", got)
	}
}

func TestClock(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := NewClock(2, t0)
	if got := c.At(t0.Add(time.Second)); got != 2*time.Second {
		t.Errorf("2x after 1 s: %v", got)
	}
	if w, ok := c.WallAt(3 * time.Second); !ok || !w.Equal(t0.Add(1500*time.Millisecond)) {
		t.Errorf("wall at 3 s: %v %v", w, ok)
	}
	c.SetSpeed(0.5, t0.Add(time.Second)) // at 2 s of recording
	if got := c.At(t0.Add(3 * time.Second)); got != 3*time.Second {
		t.Errorf("0.5x for 2 s after 2 s: %v", got)
	}
	c.SetPlaying(false, t0.Add(3*time.Second))
	if got := c.At(t0.Add(time.Hour)); got != 3*time.Second || c.Playing() {
		t.Errorf("paused: %v", got)
	}
	if _, ok := c.WallAt(4 * time.Second); ok {
		t.Errorf("a paused clock reaches a time")
	}
	c.Set(10*time.Second, t0.Add(time.Hour))
	c.SetPlaying(true, t0.Add(2*time.Hour))
	if got := c.At(t0.Add(2*time.Hour + 2*time.Second)); got != 11*time.Second {
		t.Errorf("after a seek while paused, then 2 s at 0.5x: %v", got)
	}
}
