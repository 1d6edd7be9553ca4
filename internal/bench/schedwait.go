package bench

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/exp/trace"
)

// schedWaits is what an execution trace says of a process's goroutines,
// by kind: how long they waited, runnable, for a CPU, and how much CPU
// they used. A goroutine's kind is the function it started in; for one
// started by sync.WaitGroup.Go, the function that runs in it, seen
// through a closure that only calls it. A CPU shortage shows in the waits
// of the goroutines a person waits on: under S1, the dashboards' writers
// that SendSoon's timer starts. `go tool trace -pprof=sched` leaves out a
// new goroutine's first wait, which is all the wait those have.
type schedWaits struct {
	span  time.Duration
	kinds map[waitKey][]time.Duration
	cpu   map[string]time.Duration
}

// waitKey is a kind of goroutine and how it became runnable: created,
// woken (from waiting), preempted, or back from a system call.
type waitKey struct{ kind, cause string }

// goTrack is one goroutine as the trace shows it; kinds are added up at
// the end, when each goroutine's deepest stack has named it.
type goTrack struct {
	kind     string
	named    bool       // kind is final; else a later, deeper stack may name it
	runnable trace.Time // when it became runnable; 0 when it is not
	cause    string
	running  trace.Time // when it began running; 0 when it is not
	waits    []goWait
	cpu      time.Duration
}

type goWait struct {
	cause string
	d     time.Duration
}

// readSchedWaits reads an execution trace (runtime/trace's format).
func readSchedWaits(r io.Reader) (*schedWaits, error) {
	tr, err := trace.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("read trace: %w", err)
	}
	live := map[trace.GoID]*goTrack{}
	var all []*goTrack
	var first, last trace.Time
	for {
		ev, err := tr.ReadEvent()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read trace: %w", err)
		}
		if first == 0 {
			first = ev.Time()
		}
		last = ev.Time()
		if ev.Kind() == trace.EventStateTransition {
			if g := follow(live, ev); g != nil {
				all = append(all, g)
			}
		}
	}
	s := &schedWaits{span: time.Duration(last - first), kinds: map[waitKey][]time.Duration{}, cpu: map[string]time.Duration{}}
	for _, g := range all {
		s.cpu[g.kind] += g.cpu
		for _, w := range g.waits {
			k := waitKey{g.kind, w.cause}
			s.kinds[k] = append(s.kinds[k], w.d)
		}
	}
	return s, nil
}

// follow applies one state transition to its goroutine, returning the
// goroutine when the trace first shows it.
func follow(live map[trace.GoID]*goTrack, ev trace.Event) (seen *goTrack) {
	st := ev.StateTransition()
	if st.Resource.Kind != trace.ResourceGoroutine {
		return nil
	}
	id := st.Resource.Goroutine()
	from, to := st.Goroutine()
	g := live[id]
	if g == nil || from == trace.GoNotExist {
		g = &goTrack{kind: "?"}
		live[id], seen = g, g
	}
	if !g.named {
		g.kind, g.named = goKind(st.Stack, g.kind)
	}
	now := ev.Time()
	if from == trace.GoRunning && g.running != 0 {
		g.cpu += time.Duration(now - g.running)
		g.running = 0
	}
	switch to {
	case trace.GoRunnable:
		g.runnable, g.cause = now, waitCause(from)
	case trace.GoRunning:
		g.running = now
		if g.runnable != 0 {
			g.waits = append(g.waits, goWait{g.cause, time.Duration(now - g.runnable)})
			g.runnable = 0
		}
	case trace.GoNotExist:
		delete(live, id)
	}
	return seen
}

// goKind names a goroutine from a stack of it (or keeps was, when the
// stack is empty), and reports whether a deeper stack could not name it
// better.
func goKind(stack trace.Stack, was string) (string, bool) {
	var frames []string // outermost last
	for f := range stack.Frames() {
		frames = append(frames, f.Func)
	}
	return kindOf(frames, was)
}

// kindOf is goKind on the stack's functions, outermost last.
func kindOf(frames []string, was string) (string, bool) {
	if len(frames) == 0 {
		return was, false
	}
	i := len(frames) - 1
	if strings.HasSuffix(frames[i], "WaitGroup).Go.func1") {
		if i == 0 {
			return frames[i], false
		}
		i--
		if isClosure(frames[i]) {
			if i == 0 {
				return trimKind(frames[i]), false
			}
			if !strings.HasPrefix(frames[i-1], "runtime.") {
				i--
			}
		}
	}
	return trimKind(frames[i]), true
}

// isClosure reports whether fn is a function literal (pkg.F.func1).
func isClosure(fn string) bool {
	j := strings.LastIndex(fn, ".func")
	return j >= 0 && strings.Trim(fn[j+len(".func"):], "0123456789.") == ""
}

func trimKind(fn string) string { return strings.TrimPrefix(fn, "switchboard/internal/") }

func waitCause(from trace.GoState) string {
	switch from {
	case trace.GoNotExist:
		return "created"
	case trace.GoRunning:
		return "preempted"
	case trace.GoSyscall:
		return "syscall"
	default:
		return "woken"
	}
}

// write prints the top kinds by the time they waited in all, with their
// waits' count a second and percentiles, then the top kinds by CPU.
func (s *schedWaits) write(w io.Writer, top int) error {
	secs := max(s.span.Seconds(), 1e-9)
	keys := make([]waitKey, 0, len(s.kinds))
	for k := range s.kinds {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b waitKey) int { return cmp.Compare(total(s.kinds[b]), total(s.kinds[a])) })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "GOROUTINE\tBECAME RUNNABLE\tPER S\tWAIT MS P50\tP90\tP99\tMAX\n")
	for _, k := range keys[:min(top, len(keys))] {
		ws := s.kinds[k]
		slices.Sort(ws)
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\n", k.kind, k.cause, float64(len(ws))/secs,
			ms(quantile(ws, 0.5)), ms(quantile(ws, 0.9)), ms(quantile(ws, 0.99)), ms(ws[len(ws)-1]))
	}
	kinds := make([]string, 0, len(s.cpu))
	for k := range s.cpu {
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, func(a, b string) int { return cmp.Compare(s.cpu[b], s.cpu[a]) })
	fmt.Fprintf(tw, "\nGOROUTINE\tCPU MS/S\n")
	for _, k := range kinds[:min(top, len(kinds))] {
		fmt.Fprintf(tw, "%s\t%.1f\n", k, ms(s.cpu[k])/secs)
	}
	return tw.Flush()
}

func total(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

func ms(d time.Duration) float64 { return d.Seconds() * 1000 }
