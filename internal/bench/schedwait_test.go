package bench

import (
	"bytes"
	"runtime"
	rtrace "runtime/trace"
	"strings"
	"sync"
	"testing"
	"time"
)

// schedProbe makes goroutines of two known kinds for a trace: timers'
// (as SendSoon's writers are started) and spinners under sync.WaitGroup.Go.
type schedProbe struct {
	fired sync.WaitGroup
	stop  chan struct{}
}

func (p *schedProbe) fire() { p.fired.Done() }

func (p *schedProbe) spin() {
	for {
		select {
		case <-p.stop:
			return
		default:
		}
	}
}

// TestReadSchedWaits reads a real execution trace of this process: every
// goroutine a timer started is counted once, as created, under the
// function it runs; the spinners' CPU is theirs, named through
// WaitGroup.Go's wrapper; and the table names both.
func TestReadSchedWaits(t *testing.T) {
	const timers = 100
	var buf bytes.Buffer
	if err := rtrace.Start(&buf); err != nil {
		t.Fatalf("start trace: %v", err)
	}
	p := &schedProbe{stop: make(chan struct{})}
	var spinners sync.WaitGroup
	for range 2 * runtime.GOMAXPROCS(0) {
		spinners.Go(p.spin)
	}
	p.fired.Add(timers)
	for i := range timers {
		time.AfterFunc(time.Duration(i)*time.Millisecond, p.fire)
	}
	p.fired.Wait()
	time.Sleep(50 * time.Millisecond)
	close(p.stop)
	spinners.Wait()
	rtrace.Stop()

	s, err := readSchedWaits(&buf)
	if err != nil {
		t.Fatal(err)
	}
	const timerKind, spinKind = "bench.(*schedProbe).fire-fm", "bench.(*schedProbe).spin"
	if w := s.kinds[waitKey{timerKind, "created"}]; len(w) != timers {
		t.Fatalf("%d timer goroutines counted as created, want %d; kinds: %v", len(w), timers, s.kinds)
	}
	if cpu := s.cpu[spinKind]; cpu < 50*time.Millisecond {
		t.Fatalf("spinners' CPU %v over ≥ 150 ms of spinning, want at least 50ms; cpu: %v", cpu, s.cpu)
	}
	if s.span < 100*time.Millisecond {
		t.Fatalf("trace spans %v, want the ≥ 150 ms it ran", s.span)
	}
	var out strings.Builder
	if err := s.write(&out, 50); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"WAIT MS P50", timerKind + "  ", "CPU MS/S", spinKind} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// TestReadSchedWaitsRejectsGarbage: what is not a trace is an error, not
// an empty table.
func TestReadSchedWaitsRejectsGarbage(t *testing.T) {
	if _, err := readSchedWaits(strings.NewReader("not a trace")); err == nil {
		t.Fatal("garbage read as a trace")
	}
}

// TestKindOf names goroutines as readSchedWaits does, from stacks of the
// relay's own shapes (outermost last).
func TestKindOf(t *testing.T) {
	const wg = "sync.(*WaitGroup).Go.func1"
	tests := []struct {
		frames []string
		kind   string
		named  bool
	}{
		{nil, "?", false},
		{[]string{"switchboard/internal/transport.(*poller).run"}, "transport.(*poller).run", true},
		{[]string{"runtime.gopark", "runtime.selectgo", "modernc.org/sqlite.interruptOnDone.func1"}, "modernc.org/sqlite.interruptOnDone.func1", true},
		{[]string{wg}, wg, false}, // only its start: a later stack names it
		{[]string{"switchboard/internal/hub.(*Local).Run.func1", wg}, "hub.(*Local).Run.func1", false},
		{[]string{"switchboard/internal/hub.(*persister).run", "switchboard/internal/hub.(*Local).Run.func1", wg}, "hub.(*persister).run", true},
		{[]string{"runtime.selectgo", "switchboard/internal/hub.(*Local).Run.func2", wg}, "hub.(*Local).Run.func2", true},
		{[]string{"runtime.gopark", "switchboard/internal/bench.(*schedProbe).spin", wg}, "bench.(*schedProbe).spin", true},
	}
	for _, tt := range tests {
		kind, named := kindOf(tt.frames, "?")
		if kind != tt.kind || named != tt.named {
			t.Errorf("kindOf(%q) = %q, %v; want %q, %v", tt.frames, kind, named, tt.kind, tt.named)
		}
	}
}
