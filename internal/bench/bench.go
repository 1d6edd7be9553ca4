package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"switchboard/internal/tlsconf"
)

// Config says what to run.
type Config struct {
	// Quick runs every scenario for a few seconds at reduced scale and
	// checks only correctness.
	Quick bool
	// Only names the scenarios to run (S1 … S5, S7); empty runs all.
	Only []string
	// WorkDir holds the databases and the S2 file; default a temporary
	// directory removed afterwards.
	WorkDir string
	// RelayBin runs this relay binary (with RelayArgs after --addr, --db,
	// --log-level warn and --pprof) instead of the generator's own relay
	// child. It must accept connections without a token.
	RelayBin  string
	RelayArgs []string
	// ProfileDir, when set, receives CPU profiles of the relay taken during
	// the measured part of S1, S2 and S4.
	ProfileDir string
	// TraceDir, when set, receives a 3 s execution trace of the relay from
	// the middle of the same windows, and the log a table of how long its
	// goroutines waited for a CPU (schedwait.go).
	TraceDir string
	// Log receives progress lines and the relays' logs; default stderr.
	Log io.Writer
	// S1Agents and S1Rate, when set, replace S1's number of agents and
	// messages per second per agent, to find where latency turns.
	S1Agents int
	S1Rate   float64
	// TLS runs S1, S2 and S3 once more over wss:// (a relay serving TLS
	// with a local CA's certificate, clients and agents trusting it),
	// after the scenarios over ws://; their rows say "TLS".
	TLS bool
}

// tlsScenarios are the scenarios TLS runs again over wss://.
var tlsScenarios = []string{"S1", "S2", "S3"}

// scale is how big each scenario is.
type scale struct {
	s1Agents, s1Dashes, s1Streams int
	s1Rate                        float64 // messages per second per agent
	s1MsgSize                     int
	s1Warmup, s1Window            time.Duration

	s2Bytes, s2PTYBytes int64
	s2Frame             int
	s2Window            int64 // unacknowledged bytes a simulated agent keeps, like the real agent's buffer

	s3Keys int

	s4Agents, s4Dashes int

	s5History int64
	s5Starts  int
}

var fullScale = scale{
	s1Agents: 1000, s1Dashes: 50, s1Streams: 10, s1Rate: 100, s1MsgSize: 100,
	s1Warmup: 3 * time.Second, s1Window: 20 * time.Second,
	s2Bytes: 200 << 20, s2PTYBytes: 200 << 20, s2Frame: 64 << 10, s2Window: 64 << 20,
	s3Keys:   2000,
	s4Agents: 10000, s4Dashes: 100,
	s5History: 1 << 30, s5Starts: 5,
}

var quickScale = scale{
	s1Agents: 40, s1Dashes: 5, s1Streams: 4, s1Rate: 100, s1MsgSize: 100,
	s1Warmup: 500 * time.Millisecond, s1Window: 2 * time.Second,
	s2Bytes: 8 << 20, s2PTYBytes: 4 << 20, s2Frame: 64 << 10, s2Window: 2 << 20,
	s3Keys:   100,
	s4Agents: 300, s4Dashes: 10,
	s5History: 16 << 20, s5Starts: 1,
}

// Row is one line of the results table.
type Row struct {
	Scenario, Measure, Target, Result string
	Verdict                           string // "met", "NOT met", or empty where there is no target
}

// Report is what a run found.
type Report struct {
	Quick bool
	Rows  []Row
	Notes []string
	// Problems are correctness failures: output lost, duplicated, corrupt
	// or not stored, connections dropped. A quick run passes when empty.
	Problems []string
	// Others is the most CPU, in cores, that processes other than the
	// relay and the generator used during a measured window.
	Others float64
	// Figures are the headline numbers by name ("S1 p99 ms", with
	// " TLS" in the TLS pass), for comparing runs (RunAB).
	Figures map[string]float64

	suffix string // added to the scenario of each row: " TLS" in the TLS pass
}

// figure records a headline number.
func (r *Report) figure(name string, v float64) {
	if r.Figures == nil {
		r.Figures = make(map[string]float64)
	}
	r.Figures[name+r.suffix] = v
}

// observe records what else ran on the machine during a measured window.
func (r *Report) observe(u usage) {
	r.Others = max(r.Others, u.others())
}

func (r *Report) add(scenario, measure, target, result string, met *bool) {
	v := ""
	if met != nil && !r.Quick {
		v = "NOT met"
		if *met {
			v = "met"
		}
	}
	r.Rows = append(r.Rows, Row{Scenario: scenario + r.suffix, Measure: measure, Target: target, Result: result, Verdict: v})
}

func (r *Report) note(format string, args ...any) {
	if n := fmt.Sprintf(format, args...); !slices.Contains(r.Notes, n) { // the TLS pass says the same
		r.Notes = append(r.Notes, n)
	}
}

func (r *Report) problem(scenario string, msgs ...string) {
	const most = 20 // per call: one broken stream is enough to say what happened
	scenario += r.suffix
	for i, m := range msgs {
		if i == most {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: … and %d more", scenario, len(msgs)-most))
			break
		}
		r.Problems = append(r.Problems, scenario+": "+m)
	}
}

func ptr(b bool) *bool { return &b }

// env is what a scenario runs with.
type env struct {
	cfg  Config
	sc   scale
	rep  *Report
	work string
	tls  *tlsFiles // in the TLS pass: relays serve wss://
	// s1PerMsg is the relay's CPU per message in S1's window, when S1
	// ran: what S7 compares three relays with.
	s1PerMsg time.Duration
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.cfg.Log, "swbench: "+format+"\n", args...)
}

// startRelay runs a relay on a database file in the work directory.
func (e *env) startRelay(ctx context.Context, db string) (*relayProc, error) {
	return startRelay(ctx, relayOptions{db: filepath.Join(e.work, db), bin: e.cfg.RelayBin, args: e.cfg.RelayArgs, log: e.cfg.Log, tls: e.tls})
}

// profile takes a CPU profile and an execution trace of the relay over d
// in the background, each if it was asked for; wait for them with the
// returned function.
func (e *env) profile(p *relayProc, d time.Duration, name string) func() {
	waitCPU, waitTrace := e.cpuProfile(p, d, name), e.trace(p, d, name)
	return func() { waitCPU(); waitTrace() }
}

// traceFor is how long a trace runs: long enough for S1's thousands of
// writers a second, short enough that the file stays tens of MB.
const traceFor = 3 * time.Second

// trace saves an execution trace of the relay from the middle of the
// window d, if traces were asked for, and logs its table of waits.
func (e *env) trace(p *relayProc, d time.Duration, name string) func() {
	if e.cfg.TraceDir == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(max(d-traceFor, 0) / 2)
		path := filepath.Join(e.cfg.TraceDir, name+".trace")
		if err := p.trace(min(d, traceFor), path); err != nil {
			e.logf("trace %s: %v", name, err)
			return
		}
		if err := e.logSchedWaits(path); err != nil {
			e.logf("trace %s: %v", name, err)
		}
	}()
	return func() { <-done }
}

// logSchedWaits logs what the trace at path says of the relay's waits.
func (e *env) logSchedWaits(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	s, err := readSchedWaits(f)
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := s.write(&b, 12); err != nil {
		return err
	}
	e.logf("relay execution trace: %s; %s of it, goroutines waiting for a CPU:\n%s", path, s.span.Round(time.Millisecond), b.String())
	return nil
}

// cpuProfile takes a CPU profile of the relay over d in the background,
// if profiles were asked for; wait for it with the returned function.
func (e *env) cpuProfile(p *relayProc, d time.Duration, name string) func() {
	if e.cfg.ProfileDir == "" {
		return func() {}
	}
	stopSelf := e.profileSelf(name)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer stopSelf()
		path := filepath.Join(e.cfg.ProfileDir, name+".cpu.pprof")
		if err := p.profile(d, path); err != nil {
			e.logf("profile %s: %v", name, err)
			return
		}
		e.logf("relay CPU profile: %s", path)
	}()
	return func() { <-done }
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// profileSelf profiles the load generator itself until the returned
// function is called, so that its share of the machine can be explained.
func (e *env) profileSelf(name string) func() {
	path := filepath.Join(e.cfg.ProfileDir, name+".generator.cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		e.logf("profile generator: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		e.logf("profile generator: %v", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

type scenario struct {
	name string
	run  func(context.Context, *env) error
}

var scenarios = []scenario{
	{"S1", runFanout},
	{"S2", runStream},
	{"S3", runEcho},
	{"S4", runIdle},
	{"S5", runStorage},
	{"S7", runCluster},
}

// Run runs the scenarios and returns what they found. An error means the
// generator could not run a scenario; what the scenarios found, problems
// included, is in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	cfg.Log = &lockedWriter{w: cfg.Log} // relays, agents and scenarios log at once
	for _, name := range cfg.Only {
		if !slices.ContainsFunc(scenarios, func(s scenario) bool { return strings.EqualFold(s.name, name) }) {
			return nil, fmt.Errorf("no scenario %q: there are S1 to S5 and S7", name)
		}
	}
	e := &env{cfg: cfg, sc: fullScale, rep: &Report{Quick: cfg.Quick}, work: cfg.WorkDir}
	if cfg.Quick {
		e.sc = quickScale
	}
	if cfg.S1Agents > 0 {
		e.sc.s1Agents = cfg.S1Agents
	}
	if cfg.S1Rate > 0 {
		e.sc.s1Rate = cfg.S1Rate
	}
	if e.work == "" {
		dir, err := os.MkdirTemp("", "swbench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		e.work = dir
	} else if err := os.MkdirAll(e.work, 0o755); err != nil {
		return nil, err
	}
	if err := raiseFileLimit(); err != nil {
		e.logf("raise file descriptor limit: %v", err)
	}
	errs := e.runAll(ctx, nil)
	if cfg.TLS && ctx.Err() == nil {
		plain := e.work
		e.work = filepath.Join(plain, "tls") // databases of their own
		tf, err := e.mkTLS()
		if err != nil {
			return e.rep, errors.Join(append(errs, err)...)
		}
		e.tls = tf
		e.rep.suffix = " TLS"
		errs = append(errs, e.runAll(ctx, tlsScenarios)...)
		e.rep.suffix, e.tls, e.work = "", nil, plain
	}
	return e.rep, errors.Join(errs...)
}

// runAll runs the scenarios Config.Only names (and, with among, only
// those of them among it).
func (e *env) runAll(ctx context.Context, among []string) []error {
	var errs []error
	for _, s := range scenarios {
		picked := func(names []string) bool {
			return len(names) == 0 || slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, s.name) })
		}
		if !picked(e.cfg.Only) || !picked(among) {
			continue
		}
		e.logf("%s%s …", s.name, e.rep.suffix)
		began := time.Now()
		if err := s.run(ctx, e); err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %w", s.name, e.rep.suffix, err))
			e.rep.problem(s.name, "did not complete: "+err.Error())
		}
		e.logf("%s%s done in %s", s.name, e.rep.suffix, time.Since(began).Round(time.Millisecond))
		if ctx.Err() != nil {
			break
		}
	}
	return errs
}

// mkTLS makes the work directory and writes a local CA and a relay
// certificate into it.
func (e *env) mkTLS() (*tlsFiles, error) {
	if err := os.MkdirAll(e.work, 0o755); err != nil {
		return nil, err
	}
	ca, cert, key, err := tlsconf.WriteLocalCA(e.work)
	if err != nil {
		return nil, fmt.Errorf("TLS certificates: %w", err)
	}
	client, err := tlsconf.Client(ca)
	if err != nil {
		return nil, err
	}
	return &tlsFiles{caFile: ca, certFile: cert, keyFile: key, client: client}, nil
}
