package tui

import (
	"testing"
	"time"

	"switchboard/internal/wire"
)

// BenchmarkReplaySeek measures a seek back in the replay view: a fresh
// emulator, and the recording played into it up to the point. The
// recording is 64 MiB of build-log output over ten minutes, one read
// every 64 KiB; each operation seeks back from the end to a point 10 s
// before it (← at the end), the worst case: all of the output before it
// is due at once.
func BenchmarkReplaySeek(b *testing.B) {
	out := logFlood(64 << 20)
	var events []wire.TimingEvent
	const chunk = 64 << 10
	n := len(out) / chunk
	for i := range n {
		events = append(events, wire.TimingEvent{TimeMS: int64(i) * 600_000 / int64(n), Kind: wire.EventOutput, Offset: int64(i * chunk)})
	}
	c := &common{st: defaultStyles(), keys: defaultKeys(), now: time.Now}
	cmd := wire.Command{ID: "c-bench", OutputBytes: int64(len(out)), State: wire.StateExited}
	cmd.Cols, cmd.Rows = 120, 40
	v := newReplayView(c, cmd)
	defer v.close()
	v.output(0, out)
	v.ended()
	v.timing(replayTimingMsg{id: cmd.ID, events: events})
	v.start()
	v.seek(v.p.Duration())
	b.ResetTimer()
	for range b.N {
		v.seek(v.p.Duration() - 10*time.Second)
		v.seek(v.p.Duration())
	}
	b.ReportMetric(float64(v.fed)/float64(b.N), "B-parsed/op")
}
