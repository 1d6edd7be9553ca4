package agent

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"switchboard/internal/wire"
)

// records reads a timed frame's records.
func records(t *testing.T, f *wire.Frame) []wire.TimingRecord {
	t.Helper()
	var recs []wire.TimingRecord
	if f.Kind != wire.FrameTimed {
		return nil
	}
	if _, err := wire.ScanTiming(f.Timing, func(r wire.TimingRecord) bool {
		r.Data = bytes.Clone(r.Data)
		recs = append(recs, r)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestTimingOnlyToRelaysThatTakeIt: an agent sends timed frames, with the
// terminal's size first and a record no later than its output, only to
// a relay whose welcome says timing; to another, plain output frames.
func TestTimingOnlyToRelaysThatTakeIt(t *testing.T) {
	for _, timing := range []bool{false, true} {
		relay := newTestRelay(t)
		runTestAgent(t, relay, nil)
		p := relay.accept(t)
		p.expectHello(t)
		p.send(t, &wire.Welcome{Protocol: wire.ProtocolVersion, Relay: "test", HeartbeatMS: 50, Timing: timing})
		p.send(t, startMsg("c-1", wire.CommandSpec{Shell: "printf one; sleep 0.2; printf two", Cols: 90, Rows: 33}))
		var recs []wire.TimingRecord
		var out []byte
		p.until(t, func(r received) bool {
			if r.frame != nil {
				if (r.frame.Kind == wire.FrameTimed) != timing {
					t.Fatalf("timing %v: frame of kind %d", timing, r.frame.Kind)
				}
				for _, rec := range records(t, r.frame) {
					// Sent with the output it describes or before it, never after.
					if rec.Offset < r.frame.Offset || rec.Offset > r.frame.End() {
						t.Fatalf("record %+v in a frame of output [%d, %d)", rec, r.frame.Offset, r.frame.End())
					}
					recs = append(recs, rec)
				}
				out = append(out, r.frame.Data...)
			}
			_, ok := r.msg.(*wire.Exited)
			return ok
		})
		if string(out) != "onetwo" {
			t.Fatalf("output %q", out)
		}
		if !timing {
			continue
		}
		if len(recs) < 3 || recs[0].Kind != wire.TimingResize || recs[0].Cols != 90 || recs[0].Rows != 33 || recs[0].TimeMS != 0 {
			t.Fatalf("records %+v: want the starting size first", recs)
		}
		var one, two *wire.TimingRecord
		for i, r := range recs {
			if r.Seq != uint64(i) {
				t.Fatalf("record %d numbered %d", i, r.Seq)
			}
			if r.Kind == wire.TimingOutput && r.Offset == 0 {
				one = &recs[i]
			}
			if r.Kind == wire.TimingOutput && r.Offset == 3 {
				two = &recs[i]
			}
		}
		if one == nil || two == nil || two.TimeMS-one.TimeMS < 200 {
			t.Fatalf("records %+v: want output at 0 and 3, at least 200 ms apart", recs)
		}
	}
}

// TestTimingKeptUntilAckedAndResent: records are kept until an ack passes
// their offset, and a new connection gets every one still held.
func TestTimingKeptUntilAckedAndResent(t *testing.T) {
	relay := newTestRelay(t)
	runTestAgent(t, relay, nil)
	p := relay.accept(t)
	p.expectHello(t)
	p.send(t, &wire.Welcome{Protocol: wire.ProtocolVersion, Relay: "test", HeartbeatMS: 50, Timing: true})
	p.send(t, startMsg("c-1", wire.CommandSpec{Shell: "printf a; sleep 0.3; printf b; sleep 30"}))
	var recs []wire.TimingRecord
	p.until(t, func(r received) bool {
		if r.frame != nil {
			recs = append(recs, records(t, r.frame)...)
			return r.frame.End() >= 2
		}
		return false
	})
	p.send(t, &wire.Ack{CommandID: "c-1", Offset: 1}) // "a" is stored: its records go
	p.drop()

	p = relay.accept(t)
	h := p.expectHello(t)
	if len(h.Holding) != 1 || h.Holding[0].Offset != 2 {
		t.Fatalf("holding %+v", h.Holding)
	}
	p.send(t, &wire.Welcome{Protocol: wire.ProtocolVersion, Relay: "test", HeartbeatMS: 50, Timing: true,
		Resume: []wire.Ack{{CommandID: "c-1", Offset: 1}}})
	var again []wire.TimingRecord
	p.until(t, func(r received) bool {
		if r.frame != nil {
			again = append(again, records(t, r.frame)...)
			return r.frame.End() >= 2
		}
		return false
	})
	var want []uint64
	for _, r := range recs {
		if r.Offset >= 1 {
			want = append(want, r.Seq)
		}
	}
	var got []uint64
	for _, r := range again {
		got = append(got, r.Seq)
	}
	if len(want) == 0 || !equalU64(got, want) {
		t.Fatalf("resent records %v, want %v (of %+v)", got, want, recs)
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTimedFrameStopsAtRecordsThatDidNotFit: with more records than a
// frame carries, the frame's output stops where the first record left
// out applies, so no output is sent before its record.
func TestTimedFrameStopsAtRecordsThatDidNotFit(t *testing.T) {
	c := &command{spec: wire.Command{ID: "c-1"}, timing: newTimingLog()}
	const n = maxSectionRecords + 904
	for i := range n {
		c.timing.output(int64(i), int64(i))
		c.out.append([]byte{'x'})
	}
	s := &stream{conn: &relayConn{timing: true}}
	var sent, recs int
	for range 3 {
		m, ok := s.outputFrame(c)
		if !ok {
			break
		}
		f, err := wire.ParseFrame(m.data)
		if err != nil {
			t.Fatal(err)
		}
		got := records(t, &f)
		recs += len(got)
		if f.Offset != int64(sent) || (len(got) > 0 && int(got[len(got)-1].Seq) != recs-1) {
			t.Fatalf("frame at %d after %d bytes; records up to %d", f.Offset, sent, got[len(got)-1].Seq)
		}
		sent += len(f.Data)
		if sent > recs {
			t.Fatalf("%d bytes sent with only %d records", sent, recs)
		}
	}
	if sent != n || recs != n {
		t.Fatalf("sent %d bytes and %d records of %d", sent, recs, n)
	}
}

// TestLongInputIsRecordedInPieces: a paste larger than a section holds is
// recorded as several records, each small enough for a frame.
func TestLongInputIsRecordedInPieces(t *testing.T) {
	l := newTimingLog()
	paste := bytes.Repeat([]byte("0123456789"), 20<<10)
	if !l.input(5, 7, paste) {
		t.Fatal("input not recorded")
	}
	var joined []byte
	for _, r := range l.recs {
		if len(r.Data) > maxSectionInput || r.TimeMS != 5 || r.Offset != 7 {
			t.Fatalf("record of %d bytes at %d ms, offset %d", len(r.Data), r.TimeMS, r.Offset)
		}
		joined = append(joined, r.Data...)
	}
	if !bytes.Equal(joined, paste) || len(section(l.recs)) != 1 {
		t.Fatalf("pieces join to %d bytes; a section takes %d of %d records", len(joined), len(section(l.recs)), len(l.recs))
	}
	if l.input(6, 7, make([]byte, maxHeldInput)) {
		t.Fatal("input past the bound was recorded")
	}
	l.ack(8)
	if len(l.recs) != 0 || l.heldInput != 0 {
		t.Fatalf("after ack: %d records, %d bytes held", len(l.recs), l.heldInput)
	}
}

// TestSessionAnnouncedOnceRunning: a session is announced to the relay
// only once its process runs; announced earlier (between being added and
// started, as on a restart), input typed at once was dropped.
func TestSessionAnnouncedOnceRunning(t *testing.T) {
	a := &Agent{log: slog.New(slog.DiscardHandler)}
	c := &command{spec: wire.Command{ID: "s-1", Session: true}, timing: newTimingLog()}
	s := &stream{conn: &relayConn{}}
	announced := func() bool {
		for _, m := range a.collectCommand(c, s, nil) {
			if bytes.Contains(m.data, []byte(`"type":"session"`)) {
				return true
			}
		}
		return false
	}
	if announced() {
		t.Fatal("a session not started yet was announced")
	}
	c.pid, c.startedAt = 42, time.Now()
	if !announced() || announced() {
		t.Fatal("a running session is announced once")
	}
}
