package recording

import (
	"testing"
	"time"

	"switchboard/internal/wire"
)

func sampleTimeline() *Timeline {
	return NewTimeline([]wire.TimingEvent{
		{Kind: wire.EventResize, Cols: 100, Rows: 30},
		{TimeMS: 10, Kind: wire.EventOutput, Offset: 0},
		{TimeMS: 20, Kind: wire.EventOutput, Offset: 5},
		{TimeMS: 5000, Kind: wire.EventResize, Offset: 8, Cols: 120, Rows: 40},
		{TimeMS: 5010, Kind: wire.EventOutput, Offset: 8},
		{TimeMS: 5010, Kind: wire.EventOutput, Offset: 8}, // the same offset again: one mark
		{TimeMS: 9000, Kind: wire.EventInput, Offset: 12, Data: []byte("q")},
		{TimeMS: 9100, Kind: wire.EventOutput, Offset: 12},
	}, 15, 80, 24)
}

func TestTimeline(t *testing.T) {
	tl := sampleTimeline()
	if c, r := tl.Size(); c != 100 || r != 30 {
		t.Errorf("starting size %dx%d", c, r)
	}
	if len(tl.Resizes()) != 1 || tl.Resizes()[0].Cols != 120 || len(tl.Inputs()) != 1 {
		t.Errorf("resizes %v, inputs %v", tl.Resizes(), tl.Inputs())
	}
	for off, want := range map[int64]int64{0: 10, 4: 10, 5: 20, 7: 20, 8: 5010, 11: 5010, 12: 9100, 14: 9100} {
		if got := tl.TimeAt(off); got != time.Duration(want)*time.Millisecond {
			t.Errorf("TimeAt(%d) = %v, want %d ms", off, got, want)
		}
	}
	for ms, want := range map[int64]int64{0: 0, 9: 0, 10: 5, 19: 5, 20: 8, 5009: 8, 5010: 12, 9099: 12, 9100: 15, 1 << 40: 15} {
		if got := tl.OffsetAt(time.Duration(ms) * time.Millisecond); got != want {
			t.Errorf("OffsetAt(%d ms) = %d, want %d", ms, got, want)
		}
	}
	for ms, want := range map[int64]int64{0: 10, 10: 20, 20: 5000, 5000: 5010, 5010: 9100} {
		if got, ok := tl.NextAfter(time.Duration(ms) * time.Millisecond); !ok || got != time.Duration(want)*time.Millisecond {
			t.Errorf("NextAfter(%d ms) = %v, %v; want %d ms", ms, got, ok, want)
		}
	}
	if _, ok := tl.NextAfter(9100 * time.Millisecond); ok {
		t.Error("an event after the last")
	}
	if tl.Duration() != 9100*time.Millisecond {
		t.Errorf("duration %v", tl.Duration())
	}
}

// TestIdleLimit: pauses longer than the limit are cut to it, before and
// between events of every kind; shorter ones are kept.
func TestIdleLimit(t *testing.T) {
	tl := sampleTimeline().WithIdleLimit(time.Second)
	// 0 →10 →20 →(4980 cut to 1000) 1020 →1030 →(3990 cut) 2030 →2130
	for off, want := range map[int64]int64{0: 10, 5: 20, 8: 1030, 12: 2130} {
		if got := tl.TimeAt(off); got != time.Duration(want)*time.Millisecond {
			t.Errorf("TimeAt(%d) = %v, want %d ms", off, got, want)
		}
	}
	if tl.Resizes()[0].MS != 1020 || tl.Inputs()[0].MS != 2030 || tl.Duration() != 2130*time.Millisecond {
		t.Errorf("resize at %d, input at %d, duration %v", tl.Resizes()[0].MS, tl.Inputs()[0].MS, tl.Duration())
	}
	if sampleTimeline().WithIdleLimit(0).TimeAt(8) != 5010*time.Millisecond {
		t.Error("limit 0 changed the timeline")
	}
	// A timeline without timing: everything at 0.
	none := NewTimeline(nil, 100, 80, 24)
	if none.TimeAt(50) != 0 || none.OffsetAt(0) != 100 || none.Duration() != 0 {
		t.Errorf("without timing: TimeAt %v, OffsetAt %d", none.TimeAt(50), none.OffsetAt(0))
	}
}
