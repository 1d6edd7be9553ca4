package hub

import (
	"log/slog"
	"testing"

	"switchboard/internal/wire"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkAgentFrame is a reader's work on one agent frame of 100 B of
// output: parse it and add it to its command's log, plain, or timed with
// the one timing record of its output (copy the record, pass the output
// on as a plain frame). The persister takes the records every 1,000
// frames, untimed, as it would every commit.
func BenchmarkAgentFrame(b *testing.B) {
	for _, timed := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "timed"}[timed], func(b *testing.B) {
			p := newPersister(discardStore{}, slog.New(slog.DiscardHandler), newMetrics(prometheus.NewRegistry()), func(stored) {})
			o := newOutputLog("c-bench", 0, 1<<20)
			data := make([]byte, 100)
			frames := make([][]byte, 1000)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for i := 0; i < b.N; i += len(frames) {
				b.StopTimer()
				o.mu.Lock()
				o.takeTimingLocked(new([]wire.TimingRecord))
				o.takeLocked()
				o.mu.Unlock()
				o.markStored(o.size(), nil)
				off := o.size()
				for j := range frames {
					at := off + int64(j*len(data))
					if timed {
						rec := wire.TimingRecord{Seq: uint64(i + j), TimeMS: int64(i+j) * 10, Offset: at}
						frames[j] = wire.AppendTimedFrame(frames[j][:0], o.id, at, wire.AppendTimingSection(nil, []wire.TimingRecord{rec}), data)
					} else {
						frames[j] = wire.AppendOutputFrame(frames[j][:0], o.id, at, data)
					}
				}
				b.StartTimer()
				for j := 0; j < len(frames) && i+j < b.N; j++ {
					raw := frames[j]
					f, err := wire.ParseFrame(raw)
					if err != nil {
						b.Fatal(err)
					}
					if f.Kind == wire.FrameTimed {
						if err := o.addTiming(f.Timing, p); err != nil {
							b.Fatal(err)
						}
						raw = wire.TimedToOutput(raw, f)
					}
					o.appendFrame(f, raw, p)
				}
			}
		})
	}
}

// BenchmarkTakeTiming is the persister taking one command's timing at a
// commit: 200 records (S1's two seconds of a stream) pending in 200
// sections, re-encoded as one row. "kept" reuses the persister's scratch
// as take does; "fresh" grows a new one each time, as before.
func BenchmarkTakeTiming(b *testing.B) {
	for _, kept := range []bool{true, false} {
		b.Run(map[bool]string{true: "kept", false: "fresh"}[kept], func(b *testing.B) {
			o := newOutputLog("c-bench", 0, 1<<20)
			var sections [][]byte
			for i := range 200 {
				rec := wire.TimingRecord{Seq: uint64(i), TimeMS: int64(i) * 10, Offset: int64(i) * 100}
				sections = append(sections, wire.AppendTimingSection(nil, []wire.TimingRecord{rec}))
			}
			var scratch []wire.TimingRecord
			b.ReportAllocs()
			for b.Loop() {
				o.tm.pending = o.tm.pending[:0]
				for _, s := range sections {
					o.tm.pending = append(o.tm.pending, s...)
				}
				if !kept {
					scratch = nil
				}
				if rows := o.takeTimingLocked(&scratch); len(rows) != 1 {
					b.Fatalf("%d rows, want 1", len(rows))
				}
			}
		})
	}
}
