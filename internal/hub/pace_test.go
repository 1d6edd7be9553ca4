package hub

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestRestFor(t *testing.T) {
	tests := []struct {
		worked time.Duration
		share  float64
		want   time.Duration
	}{
		{10 * time.Millisecond, 0.1, 90 * time.Millisecond},
		{10 * time.Millisecond, 0.5, 10 * time.Millisecond},
		{10 * time.Millisecond, 1, 0},
		{0, 0.1, 0},
		{time.Second, 0.1, maxRest}, // bounded
	}
	for _, tt := range tests {
		if got := restFor(tt.worked, tt.share); got != tt.want {
			t.Errorf("restFor(%v, %v) = %v, want %v", tt.worked, tt.share, got, tt.want)
		}
	}
}

// TestQuantileAtLeast judges histograms as the pacer does (busyQuantile,
// 1 ms). The S1 case is the shape of the relay's waits under S1 on 2
// cores: most goroutines run at once, so the median is under 1 ms, while
// the dashboards' writers wait 1 ms or more in the tail; a median-judged
// pacer never rested there.
func TestQuantileAtLeast(t *testing.T) {
	// Buckets in seconds: [0, 100µs), [100µs, 1ms), [1ms, 10ms), [10ms, 1s).
	buckets := []float64{0, 100e-6, 1e-3, 10e-3, 1}
	tests := []struct {
		name   string
		counts []uint64
		want   bool
	}{
		{"quiet: all under 100µs", []uint64{1000, 0, 0, 0}, false},
		{"a few slow", []uint64{950, 30, 15, 5}, false},
		{"S1: a tenth waiting 1ms or more", []uint64{700, 180, 100, 20}, true},
		{"half waiting 1ms or more", []uint64{250, 250, 400, 100}, true},
		{"most waiting 1ms or more", []uint64{10, 40, 500, 450}, true},
		{"too few to say", []uint64{0, 0, busyMinEvents - 1, 0}, false},
		{"nothing", []uint64{0, 0, 0, 0}, false},
	}
	for _, tt := range tests {
		if got := quantileAtLeast(tt.counts, buckets, busyQuantile, busySchedLatency.Seconds()); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	// The median of the S1 case is under 1 ms: what the pacer judged by
	// before, and why it never rested.
	if quantileAtLeast([]uint64{700, 180, 100, 20}, buckets, 0.5, 1e-3) {
		t.Error("S1 case: median judged 1 ms or more")
	}
}

// TestPacerReadsTheScheduler runs the pacer on the real runtime metric:
// an idle process is not short of CPU; one whose runnable goroutines far
// outnumber its CPUs, each spinning, is, and then a batch is followed by
// a rest nine times its length (share 0.1).
func TestPacerReadsTheScheduler(t *testing.T) {
	p := newCPUPacer(0.1)
	time.Sleep(50 * time.Millisecond)
	if got := p.rest(10 * time.Millisecond); got != 0 {
		t.Fatalf("idle: rest %v, want none", got)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := 0; i < 1e6; i++ { // work, then yield: many scheduling events, each after a wait
					_ = i * i
				}
				runtime.Gosched()
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	p.rest(0) // forget the idle time before the spinners
	for deadline := time.Now().Add(10 * time.Second); ; {
		time.Sleep(300 * time.Millisecond) // enough scheduling events to judge (busyMinEvents)
		got := p.rest(10 * time.Millisecond)
		if got == 90*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("short of CPU for 10 s: rest %v, want 90ms", got)
		}
	}
	if got := newCPUPacer(1).rest(10 * time.Millisecond); got != 0 {
		t.Fatalf("share 1: rest %v, want none", got)
	}
}
