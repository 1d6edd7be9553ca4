package e2e

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// The markers in docs/awareness.md between which the measured table goes.
const (
	tableBegin = "<!-- awareness table: written by make awareness -->"
	tableEnd   = "<!-- end of awareness table -->"
)

// writeAwarenessTable puts the measured figures into doc, between the
// markers.
func writeAwarenessTable(t *testing.T, doc string, scenarios []awarenessScenario,
	results map[string][]scenarioResult, joins []time.Duration, runs int, loadAtStart string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", tableBegin)
	fmt.Fprintf(&b, "%d runs of every scenario at once on one agent, %s, %d CPUs, Go %s, %s; binaries without -race; "+
		"load average %s at the start, %s at the end (the machine is shared).\n\n",
		runs, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.Version(), hostDescription(), loadAtStart, loadAverage())
	b.WriteString("| scenario | detected | latency median | latency max | false waiting |\n| --- | --- | --- | --- | --- |\n")
	for _, s := range scenarios {
		rs := results[s.name]
		var lat []time.Duration
		falses := 0
		for _, r := range rs {
			if r.detected {
				lat = append(lat, r.latency)
			}
			falses += r.falses
		}
		detected, median, worst := fmt.Sprintf("%d of %d", len(lat), len(rs)), "—", "—"
		switch {
		case s.prompt == "" && s.limit != "":
			detected = "no: " + s.limit
		case s.prompt == "":
			detected = "never waits"
		}
		if len(lat) > 0 {
			slices.Sort(lat)
			median, worst = ms(lat[len(lat)/2]), ms(lat[len(lat)-1])
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d |\n", s.name, detected, median, worst, falses)
	}
	slices.Sort(joins)
	fmt.Fprintf(&b, "| a dashboard joining while an agent waits | %d of %d at once (from its snapshot) | %s | %s | 0 |\n",
		len(joins), runs, ms(joins[len(joins)/2]), ms(joins[len(joins)-1]))
	fmt.Fprintf(&b, "\nLatency: from the dashboard receiving the output that shows the prompt to it receiving the `waiting` event (a `waiting` up to 0.5 s ahead of the prompt's output counts as 0 ms, any earlier as a false alarm; for the joining dashboard, from its dial to its snapshot).\n\n%s", tableEnd)

	text, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(text), tableBegin)
	_, after, ok2 := strings.Cut(rest, tableEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s has no %q ... %q section", doc, tableBegin, tableEnd)
	}
	if err := os.WriteFile(doc, []byte(before+b.String()+after), 0o644); err != nil {
		t.Fatal(err)
	}
}

// loadAverage is the 1, 5 and 15 minute load averages, where /proc has them.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// hostDescription names the CPU, from /proc/cpuinfo where there is one.
func hostDescription() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOOS + "/" + runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOOS + "/" + runtime.GOARCH
}
