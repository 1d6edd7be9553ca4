package chaos

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"switchboard/internal/proctest"
	"switchboard/internal/relaytest"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// proc is a running binary (proctest.Proc).
type proc = proctest.Proc

// start runs one of the built binaries until the test ends.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return proctest.Start(t, bin, name, nil, args...)
}

// relayProc is the relay binary.
type relayProc struct {
	*proc
	addr, db string
}

// startRelay runs the relay without authentication on addr and db, and
// waits until it serves. Its limits on connections waiting for their hello
// are raised: the suite's hundreds of agents stand for as many machines,
// but all connect from one address.
func startRelay(t *testing.T, addr, db string, extra ...string) *relayProc {
	t.Helper()
	args := append([]string{"--addr", addr, "--db", db, "--log-level", "warn", "--insecure-no-auth",
		"--max-unauthenticated", "4096", "--max-unauthenticated-per-ip", "4096"}, extra...)
	r := &relayProc{proc: start(t, "relay", args...), addr: addr, db: db}
	waitFor(t, 30*time.Second, "relay /healthz", func() bool {
		if !r.Alive() {
			t.Fatalf("relay exited at start:\n%s", r.LogText())
		}
		_, err := httpGet("http://" + addr + "/healthz")
		return err == nil
	})
	return r
}

func (r *relayProc) url() string { return "ws://" + r.addr }

// httpc never keeps connections, so no idle connection goroutine outlives
// a request (goleak) and no socket lingers in the relay's count.
var httpc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func httpGet(url string) ([]byte, error) {
	resp, err := httpc.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, err
}

// metric returns the sum of the relay's series named name whose labels
// include every one of labels (`kind="agent"` …); -1 if the scrape fails.
// metricLines is the relay's own metrics (not Go's), for a failure report.
func (r *relayProc) metricLines() string {
	body, err := httpGet("http://" + r.addr + "/metrics")
	if err != nil {
		return err.Error()
	}
	var keep []string
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "switchboard_") && !strings.Contains(line, "_bucket{") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "")
}

func (r *relayProc) metric(name string, labels ...string) float64 {
	body, err := httpGet("http://" + r.addr + "/metrics")
	if err != nil {
		return -1
	}
	sum := 0.0
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, ok := cutLast(line, " ")
		if !ok {
			continue
		}
		n, lbl, _ := strings.Cut(series, "{")
		if n != name || !containsAll(lbl, labels) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// rssKiB is the relay's resident memory (VmRSS), in KiB.
func (r *relayProc) rssKiB() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.Pid()))
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

// usage is what a relay holds: goroutines, sockets and other descriptors.
type usage struct {
	goroutines int
	sockets    int
	files      []string // targets of the descriptors past 2 that are not sockets
}

func (u usage) String() string {
	return fmt.Sprintf("%d goroutines, %d sockets, %d other descriptors", u.goroutines, u.sockets, len(u.files))
}

func (r *relayProc) usage() usage {
	u := usage{goroutines: int(r.metric("go_goroutines"))}
	dir := fmt.Sprintf("/proc/%d/fd", r.Pid())
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if n, _ := strconv.Atoi(e.Name()); n <= 2 {
			continue // standard input and the log
		}
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		switch {
		case err != nil:
		case strings.HasPrefix(target, "socket:"):
			u.sockets++
		default:
			u.files = append(u.files, target)
		}
	}
	return u
}

// idleUsage waits for the relay to settle with no peer connected and
// returns what it holds then: the baseline for checkNoLeaks.
func (r *relayProc) idleUsage(t *testing.T) usage {
	t.Helper()
	var u usage
	waitFor(t, 15*time.Second, "relay idle", func() bool {
		u = r.usage()
		return u.sockets == 1 && r.metric("switchboard_connections") == 0
	})
	return u
}

// checkNoLeaks waits for the relay, all of whose peers have gone, to
// return to its idle usage: no connection, no socket but the listener, no
// goroutine beyond a small allowance for the scrape itself, and no
// descriptor but SQLite's (its reader pool may hold a few more files than
// at the start).
func (r *relayProc) checkNoLeaks(t *testing.T, idle usage) usage {
	t.Helper()
	allowed := map[string]bool{r.db: true, r.db + "-wal": true, r.db + "-shm": true}
	for _, f := range idle.files {
		allowed[f] = true
	}
	maxFiles := len(idle.files) + 2*max(4, runtime.NumCPU()) + 2
	var u usage
	var why string
	deadline := time.Now().Add(20 * time.Second)
	for {
		u = r.usage()
		why = ""
		conns := r.metric("switchboard_connections")
		switch {
		case conns != 0:
			why = fmt.Sprintf("%v connections open", conns)
		case u.sockets > idle.sockets:
			why = fmt.Sprintf("%d sockets, idle had %d", u.sockets, idle.sockets)
		case u.goroutines > idle.goroutines+3:
			why = fmt.Sprintf("%d goroutines, idle had %d", u.goroutines, idle.goroutines)
		case len(u.files) > maxFiles:
			why = fmt.Sprintf("%d descriptors besides sockets, idle had %d: %v", len(u.files), len(idle.files), u.files)
		}
		for _, f := range u.files {
			if !allowed[f] && why == "" {
				why = fmt.Sprintf("descriptor for %s, which is neither SQLite's nor open when idle", f)
			}
		}
		if why == "" {
			return u
		}
		if time.Now().After(deadline) {
			ss, _ := exec.Command("ss", "-tanpe").Output()
			var mine []string
			for line := range strings.Lines(string(ss)) {
				if strings.Contains(line, fmt.Sprintf("pid=%d,", r.Pid())) {
					mine = append(mine, line)
				}
			}
			t.Errorf("relay leaked: %s (idle: %v; now: %v); its sockets:\n%s", why, idle, u, strings.Join(mine, ""))
			return u
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noLeaks makes the test fail if, once its cleanups have run, a goroutine
// of the test process is left (goleak) or the process holds more file
// descriptors than when the test began. Call it first, so that its
// cleanup runs last.
func noLeaks(t *testing.T) {
	before := fdTargets()
	t.Cleanup(func() {
		goleak.VerifyNone(t)
		var now []string
		for range 100 {
			if now = fdTargets(); len(now) <= len(before) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Errorf("test process holds %d descriptors, %d at the start: %v", len(now), len(before), now)
	})
}

func fdTargets() []string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil {
			out = append(out, target)
		}
	}
	slices.Sort(out)
	return out
}

// waitFor polls cond every 20 ms until it holds or the timeout passes:
// some conditions here query the relay heavily (TestReconnectStampede's
// timed out when polled every 10 ms on a loaded machine).
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	relaytest.EventuallyEvery(t, 20*time.Millisecond, timeout, what, cond)
}

// result logs one measured result in a form docs/reliability.md quotes.
func result(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("RESULT %s: "+format, append([]any{t.Name()}, args...)...)
}

// cpuSeconds is the CPU time (user and system) a process has used; pid
// "self" is the test process.
func cpuSeconds(pid string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // clock ticks; 100 a second on Linux
}
