package hub

import (
	rtmetrics "runtime/metrics"
	"time"
)

// What the search indexer counts as a relay short of CPU, and how far it
// then steps back. With both of a machine's cores busy (a relay streaming
// hard beside other work) every CPU-second the indexer takes is one the
// streaming goroutines wait for: measured under S1 on 2 cores, an
// unpaced indexer took a quarter core and added ~50 ms to the p99 of
// agent-to-dashboard latency.
const (
	// busySchedLatency and busyQuantile: the relay is short of CPU when
	// at least a tenth of the waits of its runnable goroutines for a CPU,
	// since the indexer's last batch, took 1 ms or more. Not the median:
	// most scheduling events are goroutines that run at once, while the
	// dashboards' writers, whose delay is what a person sees, wait in the
	// tail, so a relay can keep them waiting long with its median wait far
	// under 1 ms (docs/benchmarks.md, the issue-16 analysis).
	busySchedLatency = time.Millisecond
	busyQuantile     = 0.9
	// busyMinEvents: fewer scheduling events than this say nothing either
	// way (a relay doing almost nothing).
	busyMinEvents = 64
	// maxRest bounds one rest, so that a very long batch (a slow disk)
	// does not stop indexing for long.
	maxRest = 5 * time.Second
)

// cpuPacer tells the indexer how long to rest after a batch: not at all
// while the relay's goroutines get a CPU at once, so that a backlog is
// caught up at full speed on a quiet relay; enough to keep its work to
// share of the time while they wait for one, as a nice(1) process would.
// Its signal is the Go scheduler's own record of how long runnable
// goroutines waited (runtime/metrics /sched/latencies:seconds), read
// between batches; the indexer's goroutine alone uses it.
type cpuPacer struct {
	share  float64 // of the time the indexer may work while the relay is short of CPU; 1: never rests
	sample []rtmetrics.Sample
	prev   []uint64 // the histogram's counts at the last read
	delta  []uint64 // the counts since then
}

const schedLatencies = "/sched/latencies:seconds"

func newCPUPacer(share float64) *cpuPacer {
	p := &cpuPacer{share: share, sample: []rtmetrics.Sample{{Name: schedLatencies}}}
	p.busy() // the first read sets prev: what came before the indexer started says nothing
	return p
}

// rest is how long to wait after a batch that took worked.
func (p *cpuPacer) rest(worked time.Duration) time.Duration {
	if p.share >= 1 || !p.busy() {
		return 0
	}
	return restFor(worked, p.share)
}

// restFor is the rest after work that keeps the work to share of the
// time.
func restFor(worked time.Duration, share float64) time.Duration {
	if share <= 0 || share >= 1 {
		return 0
	}
	return min(time.Duration(float64(worked)*(1/share-1)), maxRest)
}

// busy reads the scheduler's latencies and reports whether their
// busyQuantile since the last read was busySchedLatency or more.
func (p *cpuPacer) busy() bool {
	rtmetrics.Read(p.sample)
	if p.sample[0].Value.Kind() != rtmetrics.KindFloat64Histogram {
		return false // a runtime without the metric: never rest
	}
	h := p.sample[0].Value.Float64Histogram()
	p.prev = append(p.prev, make([]uint64, len(h.Counts)-len(p.prev))...) // zeros before the first read
	p.delta = p.delta[:0]
	for i, c := range h.Counts {
		p.delta = append(p.delta, c-p.prev[i])
	}
	copy(p.prev, h.Counts)
	return quantileAtLeast(p.delta, h.Buckets, busyQuantile, busySchedLatency.Seconds())
}

// quantileAtLeast reports whether the q quantile (0 < q < 1) of a
// histogram (counts[i] between buckets[i] and buckets[i+1], in seconds)
// is at least limit, judging a bucket by its lower bound; with fewer than
// busyMinEvents counted, it is not.
func quantileAtLeast(counts []uint64, buckets []float64, q, limit float64) bool {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total < busyMinEvents {
		return false
	}
	var below uint64
	for i, c := range counts {
		if buckets[i] >= limit {
			break
		}
		below += c
	}
	return float64(below) <= q*float64(total)
}
