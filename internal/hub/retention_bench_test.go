package hub

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkPersistDuringRemoval measures how long the persister's commits
// of streamed output take while retention removes a finished command of
// 64 MiB (4,096 rows of 16 KiB) in steps of StepRows rows with the
// default 5 ms pause between them, against the same stream with nothing
// removed (idle, for 5 s). An operation is one removal (or idle spell) on
// a fresh store. Reported over all operations: the latency of the commits
// that ran while the removal did (Apply's time, the wait for the write
// connection included), the removal steps' own time, and the rate of
// removal (output bytes removed a second of the pass).
func BenchmarkPersistDuringRemoval(b *testing.B) {
	for _, rows := range []int{0, 64, 256} {
		name := fmt.Sprintf("step=%d", rows)
		if rows == 0 {
			name = "idle"
		}
		b.Run(name, func(b *testing.B) { benchPersistDuringRemoval(b, rows) })
	}
}

func benchPersistDuringRemoval(b *testing.B, stepRows int) {
	var commits, steps []time.Duration
	var removing time.Duration
	for b.Loop() {
		b.StopTimer()
		h, st := retentionHub(b, 4096, Retention{Retain: time.Minute, StepRows: max(stepRows, 1)})
		b.StartTimer()
		var from, to time.Time
		streamWhile(b, h, st, func() {
			from = time.Now()
			if stepRows == 0 {
				time.Sleep(5 * time.Second)
			} else if err := h.retainer.pass(context.Background(), time.Now()); err != nil {
				b.Fatal(err)
			}
			to = time.Now()
		})
		removing += to.Sub(from)
		st.mu.Lock()
		for _, a := range st.applies {
			if a.end.After(from) && a.start.Before(to) {
				commits = append(commits, a.end.Sub(a.start))
			}
		}
		for _, r := range st.removes {
			steps = append(steps, r.end.Sub(r.start))
		}
		st.mu.Unlock()
	}
	report(b, "commit", commits)
	report(b, "step", steps)
	b.ReportMetric(float64(len(commits))/float64(b.N), "commits/op")
	if stepRows > 0 {
		b.ReportMetric(float64(64<<20)*float64(b.N)/removing.Seconds()/1e6, "removed-MB/s")
	}
}

// report reports the median, 99th percentile and maximum of ds in ms.
func report(b *testing.B, what string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	q := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-"+what+"-ms")
	b.ReportMetric(q(0.99), "p99-"+what+"-ms")
	b.ReportMetric(q(1), "max-"+what+"-ms")
}
