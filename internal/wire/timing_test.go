package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func sampleRecords(first uint64) []TimingRecord {
	return []TimingRecord{
		{Seq: first, Kind: TimingResize, TimeMS: 0, Offset: 0, Cols: 120, Rows: 40},
		{Seq: first + 1, Kind: TimingOutput, TimeMS: 3, Offset: 0},
		{Seq: first + 2, Kind: TimingOutput, TimeMS: 1 << 33, Offset: 1 << 40},
		{Seq: first + 3, Kind: TimingInput, TimeMS: 1<<33 + 2, Offset: 1 << 40, Data: []byte{0, 0xff, 0x1b, 'q'}},
		{Seq: first + 4, Kind: TimingResize, TimeMS: 1<<33 + 2, Offset: 1<<40 + 7, Cols: 0xffff, Rows: 1},
		{Seq: first + 5, Kind: TimingInput, TimeMS: 1<<33 + 9, Offset: 1<<40 + 7, Data: []byte{}},
	}
}

func scanAll(t *testing.T, b []byte) ([]TimingRecord, []byte) {
	t.Helper()
	var got []TimingRecord
	rest, err := ScanTiming(b, func(r TimingRecord) bool {
		got = append(got, r)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, rest
}

func TestTimingSectionRoundTrip(t *testing.T) {
	recs := sampleRecords(1 << 50)
	sec := AppendTimingSection(nil, recs)
	two := AppendTimingSection(append([]byte(nil), sec...), sampleRecords(7))
	got, rest := scanAll(t, two)
	if len(got) != len(recs) {
		t.Fatalf("got %d records, want %d", len(got), len(recs))
	}
	for i := range recs {
		if len(recs[i].Data) == 0 {
			recs[i].Data, got[i].Data = nil, nil
		}
	}
	if !reflect.DeepEqual(got, recs) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, recs)
	}
	if second, rest := scanAll(t, rest); len(second) != 6 || second[0].Seq != 7 || len(rest) != 0 {
		t.Fatalf("second section: %d records from %d, %d bytes left", len(second), second[0].Seq, len(rest))
	}
	first, count, err := TimingSpan(sec)
	if first != 1<<50 || count != 6 || err != nil {
		t.Errorf("TimingSpan = %d, %d, %v", first, count, err)
	}
	// An output record costs a byte or two of time and of offset.
	small := AppendTimingSection(nil, []TimingRecord{{TimeMS: 5}, {Seq: 1, TimeMS: 6, Offset: 100}, {Seq: 2, TimeMS: 40, Offset: 4000}})
	if len(small) > 2+2+3+4 {
		t.Errorf("three output records take %d bytes", len(small))
	}
}

// TestTimingSectionStopEarly: ScanTiming stops calling fn when it says so,
// and still returns what follows the section.
func TestTimingSectionStopEarly(t *testing.T) {
	b := AppendTimingSection(AppendTimingSection(nil, sampleRecords(0)), sampleRecords(9))
	n := 0
	rest, err := ScanTiming(b, func(TimingRecord) bool { n++; return n < 2 })
	if err != nil || n != 2 {
		t.Fatalf("fn called %d times, %v", n, err)
	}
	if got, _ := scanAll(t, rest); len(got) != 6 || got[0].Seq != 9 {
		t.Fatalf("rest begins at record %d", got[0].Seq)
	}
}

// TestAppendTimingSectionRaisesWhatGoesDown: times and offsets never go
// down within a section; a record given one lower keeps its predecessor's.
func TestAppendTimingSectionRaisesWhatGoesDown(t *testing.T) {
	sec := AppendTimingSection(nil, []TimingRecord{{TimeMS: 10, Offset: 50}, {Seq: 1, TimeMS: 4, Offset: 20}})
	got, _ := scanAll(t, sec)
	if got[1].TimeMS != 10 || got[1].Offset != 50 {
		t.Errorf("second record at %d ms, offset %d", got[1].TimeMS, got[1].Offset)
	}
}

func TestTimingSectionRejects(t *testing.T) {
	good := AppendTimingSection(nil, sampleRecords(0))
	uv := func(vs ...uint64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
		return b
	}
	tests := map[string][]byte{
		"empty":                   nil,
		"truncated":               good[:len(good)-1],
		"count past the end":      uv(0, 1000, 0, 0),
		"unknown kind":            uv(0, 1, 3, 0),
		"input longer than it":    append(uv(0, 1, 2, 0, 10), 'a'),
		"time out of range":       uv(0, 1, (maxTimingMS+1)<<2, 0),
		"time overflows later":    uv(0, 2, maxTimingMS<<2, 0, 4<<2, 0),
		"offset out of range":     uv(0, 1, 0, 1<<62+1),
		"terminal size too large": uv(0, 1, 1, 0, 0x10000, 24),
		"overlong varint":         {0, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ScanTiming(b, nil); !errors.Is(err, ErrBadMessage) {
				t.Errorf("ScanTiming(% x) = %v, want ErrBadMessage", b, err)
			}
		})
	}
}

func TestTimedFrame(t *testing.T) {
	sec := AppendTimingSection(nil, sampleRecords(3))
	data := []byte("hello\r\n\xff")
	raw := AppendTimedFrame(nil, "c-1", 4096, sec, data)
	f, err := ParseFrame(raw)
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind != FrameTimed || f.CommandID != "c-1" || f.Offset != 4096 || !bytes.Equal(f.Timing, sec) || !bytes.Equal(f.Data, data) {
		t.Fatalf("parsed %+v", f)
	}
	out := TimedToOutput(raw, f)
	if want := OutputFrame("c-1", 4096, data); !bytes.Equal(out, want) {
		t.Fatalf("as output frame:\n got % x\nwant % x", out, want)
	}
	// A frame of timing alone, and one whose timing length runs past it.
	if f, err := ParseFrame(AppendTimedFrame(nil, "c", 0, sec, nil)); err != nil || len(f.Data) != 0 || !bytes.Equal(f.Timing, sec) {
		t.Errorf("timing-only frame: %+v, %v", f, err)
	}
	bad := AppendTimedFrame(nil, "c", 0, sec, nil)
	bad[2+1+8] = 0x7f // the section's length, now longer than the frame
	if _, err := ParseFrame(bad); !errors.Is(err, ErrBadMessage) {
		t.Errorf("timing length past the end: %v", err)
	}
	if _, err := ParseFrame([]byte{FrameTimed, 1, 'c', 0, 0}); !errors.Is(err, ErrBadMessage) {
		t.Errorf("no offset: %v", err)
	}
}

func TestTimingEventJSON(t *testing.T) {
	for _, tt := range []struct {
		ev   TimingEvent
		json string
	}{
		{TimingEvent{TimeMS: 1200, Kind: EventOutput, Offset: 4096}, `[1200,"o",4096]`},
		{TimingEvent{TimeMS: 1500, Kind: EventResize, Offset: 4200, Cols: 100, Rows: 30}, `[1500,"r",4200,100,30]`},
		{TimingEvent{TimeMS: 2000, Kind: EventInput, Offset: 4200, Data: []byte("ls\r")}, `[2000,"i",4200,"bHMN"]`},
	} {
		b, err := tt.ev.MarshalJSON()
		if err != nil || string(b) != tt.json {
			t.Errorf("marshal %+v = %s, %v; want %s", tt.ev, b, err, tt.json)
		}
		var got TimingEvent
		if err := got.UnmarshalJSON([]byte(tt.json)); err != nil || !reflect.DeepEqual(got, tt.ev) {
			t.Errorf("unmarshal %s = %+v, %v", tt.json, got, err)
		}
	}
	for _, bad := range []string{`[1,"o"]`, `{}`, `[1,"r",2,3]`, `[1,"i",2]`, `["x","o",1]`} {
		var e TimingEvent
		if err := e.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("%s decoded as %+v", bad, e)
		}
	}
}

// TestTimedFrameExampleAsDocumented: the timed output frame example in
// docs/protocol.md is what AppendTimedFrame writes for what it describes.
func TestTimedFrameExampleAsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	hexAfter := func(label string) []byte {
		m := regexp.MustCompile(regexp.QuoteMeta(label) + "\\s+`([0-9a-f ]+)`").FindSubmatch(doc)
		if m == nil {
			t.Fatalf("docs/protocol.md has no %q followed by bytes", label)
		}
		b, err := hex.DecodeString(strings.ReplaceAll(string(m[1]), " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sec := AppendTimingSection(nil, []TimingRecord{
		{Seq: 0, Kind: TimingResize, Cols: 80, Rows: 24}, {Seq: 1, Kind: TimingOutput, TimeMS: 5}})
	if doc := hexAfter("make the section"); !bytes.Equal(doc, sec) {
		t.Errorf("documented section % x, AppendTimingSection writes % x", doc, sec)
	}
	frame := AppendTimedFrame(nil, "c-1", 0, sec, []byte("hi\n"))
	if doc := hexAfter("and the frame:"); !bytes.Equal(doc, frame) {
		t.Errorf("documented frame % x, AppendTimedFrame writes % x", doc, frame)
	}
}
