package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	Child() // the generator starts this test binary again as its relay and agents
	os.Exit(m.Run())
}

// TestQuick runs every scenario in quick mode, as `make test` does, so
// that the load generator keeps working: it checks that nothing was lost,
// duplicated or corrupt, never how fast.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts relays and agents; skipped with -short")
	}
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{Quick: true, TLS: true, WorkDir: t.TempDir(), Log: &log})
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log.String())
	}
	var table strings.Builder
	rep.PrintTable(&table)
	t.Log("\n" + table.String())
	for _, p := range rep.Problems {
		t.Error(p)
	}
	if t.Failed() {
		t.Logf("log:\n%s", log.String())
	}
	for _, want := range []string{"S1", "S2", "S3", "S4", "S5", "S1 TLS", "S2 TLS", "S3 TLS", "S7"} {
		if !rowsFor(rep, want) {
			t.Errorf("no result for %s", want)
		}
	}
	// Agents over TLS are read by the pollers, as over plain TCP.
	for _, f := range []string{"S1 polled connections", "S1 polled connections TLS"} {
		if got := rep.Figures[f]; got != float64(quickScale.s1Agents) {
			t.Errorf("%s: %v, want every agent (%d)", f, got, quickScale.s1Agents)
		}
	}
}

func rowsFor(rep *Report, scenario string) bool {
	for _, r := range rep.Rows {
		if r.Scenario == scenario {
			return true
		}
	}
	return false
}

func TestMessageCheck(t *testing.T) {
	const size = 100
	var stream []byte
	for seq := range 50 {
		m := make([]byte, size)
		fillMessage(m, uint64(seq), 1)
		stream = append(stream, m...)
	}
	tests := []struct {
		name  string
		feeds [][2]int // [from, to) of stream, in arrival order
		want  streamResult
	}{
		{"whole", [][2]int{{0, 5000}}, streamResult{received: 5000}},
		{"odd splits", [][2]int{{0, 7}, {7, 150}, {150, 151}, {151, 5000}}, streamResult{received: 5000}},
		{"gap", [][2]int{{0, 250}, {430, 5000}}, streamResult{received: 5000, missing: 180}},
		{"overlap", [][2]int{{0, 300}, {250, 5000}}, streamResult{received: 5000, repeated: 50}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var lat []int64
			c := newMessageCheck(size, 0, &lat)
			for _, f := range tc.feeds {
				c.feed(int64(f[0]), stream[f[0]:f[1]], 2)
			}
			if got := c.result(); got != tc.want {
				t.Errorf("result %+v, want %+v", got, tc.want)
			}
		})
	}
	c := newMessageCheck(size, 0, new([]int64))
	bad := bytes.Clone(stream)
	bad[1234] ^= 1
	c.feed(0, bad, 2)
	if c.result().corrupt != 1 {
		t.Errorf("corrupt message not found: %+v", c.result())
	}
}

func TestPattern(t *testing.T) {
	buf := make([]byte, 3*patternLen)
	fillPattern(buf, 12345)
	if !matchesPattern(12345, buf) || matchesPattern(12346, buf) {
		t.Error("pattern does not match itself at the same offset only")
	}
	if bytes.IndexByte(pattern, '\n') >= 0 {
		t.Error("pattern holds a newline, which a terminal would translate")
	}
}

func TestKeptSections(t *testing.T) {
	old := "# Benchmarks\n\n## Results\nx\n\n## S6 TUI pane\nfeed 80 MB/s\n\n## Go benchmarks\ny\n\n## Analysis\nwhy\n"
	if got := KeptSections(old); got != "## S6 TUI pane\nfeed 80 MB/s\n\n## Analysis\nwhy" {
		t.Errorf("kept %q", got)
	}
}

func TestS6Row(t *testing.T) {
	out := `BenchmarkEmulatorFeed/log/80x24-2   1  222323868 ns/op  4.72 MB/s
BenchmarkEmulatorFeed/yes/200x60-2  1 1012155047 ns/op  0.03 MB/s
BenchmarkFloodedPane/log/100x30/1MBps-2  1 2001108246 ns/op  0.2856 cores  9.873 p50-ms  22.05 p99-ms
BenchmarkFloodedPane/log/200x60/10MBps-2 1 2002449871 ns/op  0.3237 cores  11.65 p50-ms  18.46 p99-ms`
	row := s6Row(out, false)
	if !strings.Contains(row[3], "feed 0.03–4.7 MB/s") || !strings.Contains(row[3], "≤ 22.1 ms at 1 MB/s") || row[4] != "met" {
		t.Errorf("row %q", row)
	}
	if row := s6Row("", false); row[4] != "" || !strings.Contains(row[3], "internal/tui") {
		t.Errorf("row without figures %q", row)
	}
}

func TestSlope(t *testing.T) {
	if got := slope([]float64{1, 2, 3, 4}, []float64{10, 12, 14, 16}); got != 2 {
		t.Errorf("slope %v, want 2", got)
	}
	if got := slope([]float64{1}, []float64{5}); got != 0 {
		t.Errorf("slope of one point %v", got)
	}
}

func TestABTable(t *testing.T) {
	r := &ABReport{Rounds: 3, Figures: map[string]map[string][]float64{
		"old": {"S1 p99 ms": {60, 40, 70}, "S3 p50 µs TLS": {300, 280, 1200}},
		"new": {"S1 p99 ms": {30, 55, 20}, "S3 p50 µs TLS": {240, 260, 270}, "S1 polled connections": {1000, 1000, 1000}},
	}}
	var out strings.Builder
	r.PrintTable(&out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 { // header and the two figures with targets; not the connection count
		t.Fatalf("table:\n%s", out.String())
	}
	if f := strings.Fields(lines[1]); f[0]+" "+f[1]+" "+f[2] != "S1 p99 ms" || f[3] != "60" || f[7] != "30" || f[len(f)-1] != "yes" {
		t.Errorf("S1 row %q: want old median 60, new 30, met", lines[1])
	}
	if f := strings.Fields(lines[2]); f[4] != "300" || f[8] != "260" || f[len(f)-1] != "no" {
		t.Errorf("S3 row %q: want old median 300, new 260, not met (≤ 250)", lines[2])
	}
}
