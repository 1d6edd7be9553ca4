package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Machine describes where a run happened.
type Machine struct {
	CPU      string // model name from /proc/cpuinfo
	Cores    int
	MemTotal string
	Kernel   string
	Go       string
	Date     time.Time
	Load     string // /proc/loadavg when the run started
}

// ThisMachine reads the machine's description.
func ThisMachine() Machine {
	m := Machine{CPU: "unknown", Cores: runtime.NumCPU(), Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		Date: time.Now().UTC(), Load: loadAvg()}
	m.CPU = firstField("/proc/cpuinfo", "model name", m.CPU)
	if kb, err := strconv.ParseFloat(strings.TrimSuffix(firstField("/proc/meminfo", "MemTotal", ""), " kB"), 64); err == nil {
		m.MemTotal = mb(kb * 1024)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return m
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// firstField returns the value of the first "key : value" line of a
// /proc file.
func firstField(path, key, def string) string {
	f, err := os.Open(path)
	if err != nil {
		return def
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return def
}

// PrintTable writes the results as an aligned text table.
func (r *Report) PrintTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tMEASURE\tTARGET\tRESULT\tVERDICT")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.Scenario, row.Measure, row.Target, row.Result, row.Verdict)
	}
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	if len(r.Problems) == 0 {
		fmt.Fprintln(w, "correctness: every stream checked byte by byte at the dashboards and in the database: nothing lost, duplicated or corrupt")
		return
	}
	fmt.Fprintf(w, "correctness: %d problems\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintln(w, "  -", p)
	}
}

// Document is everything docs/benchmarks.md holds.
type Document struct {
	Report     *Report
	Machine    Machine
	LoadAfter  string
	Command    string // the command line that produced it
	GoBench    string // output of go test -bench, if any
	Kept       string // sections carried over from the previous file (S6)
	Shared     bool   // other work ran on the machine at the same time
	ProfileDir string
}

// WriteMarkdown writes the document.
func (d *Document) WriteMarkdown(w io.Writer) error {
	b := &strings.Builder{}
	m := d.Machine
	fmt.Fprintf(b, "# Benchmarks\n\nWritten by `make bench`; regenerate rather than edit. Sections headed `## Analysis…` or `## S6…` are hand-written and kept.\n\n")
	fmt.Fprintf(b, "- Command: `%s`\n", d.Command)
	fmt.Fprintf(b, "- Machine: %s, %d cores, %s RAM, %s\n", m.CPU, m.Cores, m.MemTotal, m.Kernel)
	fmt.Fprintf(b, "- Go: %s\n", m.Go)
	fmt.Fprintf(b, "- Date: %s\n", m.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(b, "- Load average (1, 5, 15 min): %s at the start, %s at the end\n", m.Load, d.LoadAfter)
	fmt.Fprintf(b, "- Relay, load generator and agents share this machine; the relay runs in a process of its own, whose CPU time and memory are read from /proc.\n")
	fmt.Fprintf(b, "- Other processes used up to %.2f cores during the measured windows.\n", d.Report.Others)
	if d.Shared || d.Report.Others >= 0.2 {
		fmt.Fprintf(b, "- **Shared machine:** other work (other engineers' builds and tests) ran during this run; timings are pessimistic and vary from run to run.\n")
	}
	fmt.Fprintf(b, "\n## Results\n\n| scenario | measure | target | result | verdict |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range d.Report.Rows {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", r.Scenario, cell(r.Measure), cell(r.Target), cell(r.Result), r.Verdict)
	}
	fmt.Fprintf(b, "| %s |\n", strings.Join(s6Row(d.GoBench, hasS6(d.Kept)), " | "))
	fmt.Fprintf(b, "\n## Correctness\n\n")
	if len(d.Report.Problems) == 0 {
		fmt.Fprintf(b, "Every followed stream was checked byte by byte at the dashboards, and every stream read back from the database after the relay stopped: nothing lost, duplicated or corrupt.\n")
	} else {
		for _, p := range d.Report.Problems {
			fmt.Fprintf(b, "- %s\n", cell(p))
		}
	}
	if len(d.Report.Notes) > 0 {
		fmt.Fprintf(b, "\n## Notes\n\n")
		for _, n := range d.Report.Notes {
			fmt.Fprintf(b, "- %s\n", n)
		}
	}
	if lines := benchLines(d.GoBench); lines != "" {
		fmt.Fprintf(b, "\n## Go benchmarks\n\nThe hot paths on their own: `go test -bench` as `make bench` runs it, benchmark lines only.\n\n```\n%s\n```\n", lines)
	}
	if d.Kept != "" {
		fmt.Fprintf(b, "\n%s\n", strings.TrimSpace(d.Kept))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// s6Row is the results table's row for S6, which the internal/tui
// benchmarks measure: their figures when the Go benchmark output holds
// them, else a pointer to them.
func s6Row(goBench string, section bool) []string {
	row := []string{"S6", "TUI pane: emulator feed rate; arrival-to-screen time at 1 and 10 MB/s (internal/tui benchmarks)",
		"latest output on screen < 100 ms after arrival", "not measured by swbench: run `go test -bench . ./internal/tui`", ""}
	if section {
		row[3] = "see the S6 section below"
	}
	feed := benchMetric(goBench, "BenchmarkEmulatorFeed/", "MB/s")
	p99 := map[string][]float64{}
	for _, rate := range []string{"1MBps", "10MBps"} {
		for _, v := range benchMetricLines(goBench, "BenchmarkFloodedPane/", rate, "p99-ms") {
			p99[rate] = append(p99[rate], v)
		}
	}
	if len(feed) == 0 || len(p99["1MBps"]) == 0 || len(p99["10MBps"]) == 0 {
		return row
	}
	worst := max(slices.Max(p99["1MBps"]), slices.Max(p99["10MBps"]))
	row[3] = fmt.Sprintf("feed %.2g–%.2g MB/s; arrival to screen p99 ≤ %.1f ms at 1 MB/s, ≤ %.1f ms at 10 MB/s (worst screen and output kind)",
		slices.Min(feed), slices.Max(feed), slices.Max(p99["1MBps"]), slices.Max(p99["10MBps"]))
	row[4] = "NOT met"
	if worst < 100 {
		row[4] = "met"
	}
	return row
}

// benchMetric returns the values of one unit on the lines of benchmarks
// whose name starts with prefix.
func benchMetric(out, prefix, unit string) []float64 {
	return benchMetricLines(out, prefix, "", unit)
}

// benchMetricLines is benchMetric for lines that also contain part.
func benchMetricLines(out, prefix, part, unit string) []float64 {
	var vals []float64
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, prefix) || !strings.Contains(line, part) {
			continue
		}
		f := strings.Fields(line)
		for i := 1; i < len(f); i++ {
			if f[i] == unit {
				if v, err := strconv.ParseFloat(f[i-1], 64); err == nil {
					vals = append(vals, v)
				}
			}
		}
	}
	return vals
}

// benchLines keeps the package and result lines of go test -bench output.
func benchLines(out string) string {
	var keep []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "pkg: ") || strings.HasPrefix(line, "Benchmark") {
			keep = append(keep, strings.TrimRight(line, " \t"))
		}
	}
	return strings.Join(keep, "\n")
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func hasS6(kept string) bool { return strings.Contains(kept, "## S6") }

// KeptSections returns the hand-written sections of an earlier benchmarks
// file that a new one carries over: each from a "## Analysis" or "## S6"
// heading to the next "## " heading.
func KeptSections(old string) string {
	var out []string
	lines := strings.Split(old, "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "## S6") && !strings.HasPrefix(lines[i], "## Analysis") {
			continue
		}
		j := i + 1
		for j < len(lines) && !strings.HasPrefix(lines[j], "## ") {
			j++
		}
		out = append(out, strings.TrimSpace(strings.Join(lines[i:j], "\n")))
		i = j - 1
	}
	return strings.Join(out, "\n\n")
}

// LoadAfter is the load average now.
func LoadAfter() string { return loadAvg() }
