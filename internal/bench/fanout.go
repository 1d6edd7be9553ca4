package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/internal/wire"
)

// dialAgents connects n simulated agents, at most par at a time.
func dialAgents(ctx context.Context, to relayAddr, n, par int, name string, labels map[string]string,
	onStart func(*simAgent, wire.Command)) ([]*simAgent, error) {
	out := make([]*simAgent, n)
	errs := make([]error, n)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(par, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				out[i], errs[i] = dialSimAgent(ctx, to, fmt.Sprintf("%s-%05d", name, i), labels, onStart)
				if errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAgents(out)
		return nil, err
	}
	return out, nil
}

func closeAgents(agents []*simAgent) {
	var wg sync.WaitGroup
	for _, a := range agents {
		if a != nil {
			wg.Go(a.close)
		}
	}
	wg.Wait()
}

// emitter is one simulated agent's running command in S1.
type emitter struct {
	a     *simAgent
	cmd   string
	phase time.Duration // spreads the agents' sends over the period
	sent  atomic.Int64  // bytes sent
	err   error
}

// runFanout is S1: many agents each emitting small messages at a steady
// rate, many dashboards each following all events and some streams.
func runFanout(ctx context.Context, e *env) error {
	sc := e.sc
	p, err := e.startRelay(ctx, "s1.db")
	if err != nil {
		return err
	}
	defer p.stop()

	started := make(chan *emitter, sc.s1Agents)
	labels := map[string]string{"pool": "s1"}
	agents, err := dialAgents(ctx, p.to(), sc.s1Agents, 64, "s1", labels, func(a *simAgent, c wire.Command) {
		started <- &emitter{a: a, cmd: c.ID}
	})
	if err != nil {
		return err
	}
	defer closeAgents(agents)
	dashes, err := dialDashes(ctx, p.to(), sc.s1Dashes)
	if err != nil {
		return err
	}
	defer func() {
		for _, d := range dashes {
			d.close()
		}
	}()

	ems, err := startAll(ctx, dashes[0], started, sc.s1Agents, wire.Targets{Labels: labels})
	if err != nil {
		return err
	}
	since := time.Now().Add(sc.s1Warmup).UnixNano()
	lats := make([][]int64, len(dashes))
	for i, d := range dashes {
		for j := range sc.s1Streams {
			em := ems[(i*sc.s1Streams+j*7919)%len(ems)]
			if err := d.follow(em.cmd, newMessageCheck(sc.s1MsgSize, since, &lats[i])); err != nil {
				return err
			}
		}
	}

	if m, err := p.metrics(); err == nil { // how the relay reads its agents: a poller, or a goroutine each
		e.rep.figure("S1 polled connections", m["switchboard_polled_connections"])
	}
	stop := make(chan struct{})
	var workers sync.WaitGroup
	startEmitters(&workers, ems, sc, stop)
	e.logf("S1: %d agents × %.0f msg/s of %d B; %d dashboards × %d streams; warm-up %s, measuring %s",
		sc.s1Agents, sc.s1Rate, sc.s1MsgSize, sc.s1Dashes, sc.s1Streams, sc.s1Warmup, sc.s1Window)
	time.Sleep(sc.s1Warmup)
	m := measureWindow(p, ems, sc.s1Window, e.profile(p, sc.s1Window, "s1"))
	close(stop)
	workers.Wait()
	sent := sentByCommand(ems) // final: the emitters have stopped
	r := e.collect(ctx, "S1", ems, dashes, lats, sent, sc.s1MsgSize)
	e.reportFanout(m, r.latency, r.tally, r.msgs, r.drops)
	if err := p.stop(); err != nil {
		e.rep.problem("S1", "relay stop: "+err.Error())
	}
	return e.checkStored("S1", "s1.db", ems, func() streamCheck { return newMessageCheck(sc.s1MsgSize, math.MaxInt64, new([]int64)) })
}

// startAll runs one command on every matching agent and waits until each
// has started.
func startAll(ctx context.Context, d *dash, started chan *emitter, n int, targets wire.Targets) ([]*emitter, error) {
	cmds, err := d.c.Run(ctx, targets, wire.CommandSpec{Argv: []string{"swbench-output"}})
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	if len(cmds) != n {
		return nil, fmt.Errorf("run selected %d agents, want %d", len(cmds), n)
	}
	ems := make([]*emitter, 0, n)
	timeout := time.After(60 * time.Second)
	for len(ems) < n {
		select {
		case em := <-started:
			em.phase = time.Duration(len(ems)) * time.Second / time.Duration(n)
			ems = append(ems, em)
		case <-timeout:
			return nil, fmt.Errorf("only %d of %d commands started within 60s", len(ems), n)
		}
	}
	return ems, nil
}

// startEmitters sends each emitter's messages at the scenario's rate from
// a few worker goroutines, each owning a share of the agents. A worker
// that falls behind catches up, so the rate holds on average.
func startEmitters(wg *sync.WaitGroup, ems []*emitter, sc scale, stop chan struct{}) {
	const workers, tick = 8, 2 * time.Millisecond
	began := time.Now()
	for w := range min(workers, len(ems)) {
		wg.Go(func() {
			msg := make([]byte, sc.s1MsgSize)
			t := time.NewTicker(tick)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				for i := w; i < len(ems); i += workers {
					ems[i].emitDue(msg, time.Since(began), sc.s1Rate)
				}
			}
		})
	}
}

// emitDue sends the messages due by elapsed, at most a few per call.
func (em *emitter) emitDue(msg []byte, elapsed time.Duration, rate float64) {
	if em.err != nil {
		return
	}
	size := int64(len(msg))
	due := int64((elapsed + em.phase).Seconds() * rate)
	for n := 0; n < 10 && em.sent.Load()/size < due; n++ {
		off := em.sent.Load()
		fillMessage(msg, uint64(off/size), time.Now().UnixNano())
		if em.err = em.a.sendOutput(em.cmd, off, msg); em.err != nil {
			return
		}
		em.sent.Add(size)
	}
}

// followed is what the dashboards of S1 or S7 received, all told.
type followed struct {
	latency latency
	tally   streamResult
	msgs    int64 // messages received
	drops   int   // times a dashboard was cut off
}

// collect waits (up to 30 s) for what was sent to arrive, before the
// commands end: their exits make the relay send a thousand events to
// every dashboard, which is the run's teardown, not the load measured.
// Then it ends the commands and adds up what each dashboard received,
// reporting its problems under scenario.
func (e *env) collect(ctx context.Context, scenario string, ems []*emitter, dashes []*dash, lats [][]int64,
	sent func(id string) int64, msgSize int) followed {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	for _, d := range dashes {
		if err := d.waitReceived(sctx, sent); err != nil {
			e.logf("%s: %v", scenario, err) // finishAll below reports what is missing for good
			break
		}
	}
	cancel()
	if err := finishAll(ctx, ems, dashes); err != nil {
		e.rep.problem(scenario, err.Error())
	}
	var all []int64
	var r followed
	for i, d := range dashes {
		r.drops += len(d.drops)
		all = append(all, lats[i]...)
		e.rep.problem(scenario, d.problems(sent)...)
		e.rep.problem(scenario, d.errs...)
		t := d.tally()
		r.tally.missing, r.tally.repeated, r.tally.corrupt = r.tally.missing+t.missing, r.tally.repeated+t.repeated, r.tally.corrupt+t.corrupt
		r.msgs += t.received / int64(msgSize)
	}
	r.latency = summarize(all)
	return r
}

// sentByCommand returns what each emitter sent, by command id; -1 for
// a command no emitter has.
func sentByCommand(ems []*emitter) func(id string) int64 {
	sent := make(map[string]int64, len(ems))
	for _, em := range ems {
		sent[em.cmd] = em.sent.Load()
	}
	return func(id string) int64 {
		if n, ok := sent[id]; ok {
			return n
		}
		return -1
	}
}

// finishAll ends every command, waits for every followed stream to end
// and for the relay to acknowledge every command as stored.
func finishAll(ctx context.Context, ems []*emitter, dashes []*dash) error {
	var errs []error
	for _, em := range ems {
		if em.err != nil {
			errs = append(errs, fmt.Errorf("agent of %s: send: %w", em.cmd, em.err))
		}
		if err := em.a.exit(em.cmd, em.sent.Load(), time.Now()); err != nil {
			errs = append(errs, fmt.Errorf("agent of %s: exit: %w", em.cmd, err))
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	for _, d := range dashes {
		if err := d.waitEnded(wctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, em := range ems {
		if err := em.a.waitAcked(wctx, em.cmd, em.sent.Load(), true); err != nil {
			errs = append(errs, fmt.Errorf("command %s: %w", em.cmd, err))
		}
	}
	return errors.Join(errs...)
}

// window is what was measured over the steady part of a run.
type window struct {
	dur          time.Duration
	cpu          usage
	sent, stored int64   // bytes sent by the agents and acknowledged as stored, over the window
	lag0, lag1   int64   // bytes sent but not yet acknowledged, at the start and end
	pendingMax   float64 // the relay's switchboard_store_pending_bytes, highest sample
	slow         float64 // slow-consumer disconnects during the window
	commits      float64 // store commits during the window
	commitSecs   float64 // time they took
	lagTrend     float64 // bytes/s by which the unstored backlog grew, least squares over the window
	index        indexWindow
}

// indexWindow is what the relay's search indexer did over a window: bytes
// indexed, seconds rested for streaming, and its lag (stored output not
// yet indexed) at the start and end and its trend.
type indexWindow struct {
	indexed, rested   float64
	lag0, lag1, trend float64
}

// measureWindow samples the relay and the agents over d.
func measureWindow(p *relayProc, ems []*emitter, d time.Duration, waitProfile func()) window {
	sent0, acked0 := totals(ems)
	slow0 := slowConsumers(p)
	m0, _ := p.metrics()
	cpu := p.startCPU()
	w := window{lag0: sent0 - acked0}
	end := time.Now().Add(d)
	var at, lag, iat, ilag []float64
	for time.Now().Before(end) {
		time.Sleep(min(time.Second, time.Until(end)))
		if m, err := p.metrics(); err == nil {
			w.pendingMax = max(w.pendingMax, m["switchboard_store_pending_bytes"])
			iat, ilag = append(iat, time.Since(cpu.wall0).Seconds()), append(ilag, m["switchboard_search_index_lag_bytes"])
		}
		s, a := totals(ems)
		at, lag = append(at, time.Since(cpu.wall0).Seconds()), append(lag, float64(s-a))
	}
	w.lagTrend = slope(at, lag)
	w.index.trend = slope(iat, ilag)
	w.cpu = cpu.read()
	w.dur = time.Since(cpu.wall0)
	sent1, acked1 := totals(ems)
	w.sent, w.stored, w.lag1 = sent1-sent0, acked1-acked0, sent1-acked1
	w.slow = slowConsumers(p) - slow0
	if m1, err := p.metrics(); err == nil && m0 != nil {
		w.commits = m1["switchboard_store_commit_seconds_count"] - m0["switchboard_store_commit_seconds_count"]
		w.commitSecs = m1["switchboard_store_commit_seconds_sum"] - m0["switchboard_store_commit_seconds_sum"]
		w.index.indexed = m1["switchboard_search_indexed_bytes_total"] - m0["switchboard_search_indexed_bytes_total"]
		w.index.rested = m1["switchboard_search_index_rested_seconds_total"] - m0["switchboard_search_index_rested_seconds_total"]
		w.index.lag0, w.index.lag1 = m0["switchboard_search_index_lag_bytes"], m1["switchboard_search_index_lag_bytes"]
	}
	waitProfile()
	return w
}

// slope fits y = a + b·x by least squares and returns b.
func slope(x, y []float64) float64 {
	n := float64(len(x))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx, sy, sxx, sxy = sx+x[i], sy+y[i], sxx+x[i]*x[i], sxy+x[i]*y[i]
	}
	if d := n*sxx - sx*sx; d != 0 {
		return (n*sxy - sx*sy) / d
	}
	return 0
}

func totals(ems []*emitter) (sent, acked int64) {
	for _, em := range ems {
		sent += em.sent.Load()
		a, _ := em.a.ackedAt(em.cmd)
		acked += a
	}
	return sent, acked
}

func slowConsumers(p *relayProc) float64 {
	m, err := p.metrics()
	if err != nil {
		return 0
	}
	return m[`switchboard_disconnects_total{kind="dashboard",reason="slow_consumer"}`]
}

// fellBehind counts the times a dashboard left the live fan-out for a
// paced catch-up.
func fellBehind(p *relayProc) float64 {
	m, err := p.metrics()
	if err != nil {
		return 0
	}
	return m["switchboard_fanout_fell_behind_total"]
}

func (e *env) reportFanout(w window, lat latency, tally streamResult, msgs int64, drops int) {
	sc := e.sc
	r := e.rep
	r.observe(w.cpu)
	r.add("S1", fmt.Sprintf("latency, agent send → dashboard receive (%d agents × %.0f msg/s × %d B, %d dashboards × %d streams)",
		sc.s1Agents, sc.s1Rate, sc.s1MsgSize, sc.s1Dashes, sc.s1Streams), "p99 < 50 ms", lat.String(), ptr(lat.n > 0 && lat.p99 < 50*time.Millisecond))
	lost := tally.missing + tally.repeated + tally.corrupt
	r.add("S1", "messages lost (followed streams, checked to the last byte)", "0",
		fmt.Sprintf("%d of %d messages; %d B missing, %d B repeated, %d corrupt; %d dashboard disconnects (%.0f slow consumer in the window)",
			lost/int64(sc.s1MsgSize), msgs, tally.missing, tally.repeated, tally.corrupt, drops, w.slow), ptr(lost == 0 && drops == 0))
	r.note("S1: on loopback the kernel does a TCP segment's receive work in the sender's system call, so the generator's CPU " +
		"includes much of the relay's receive work (each simulated agent's message is one write, as a real agent's is) and the relay's includes the dashboards'.")
	r.figure("S1 p50 ms", lat.p50.Seconds()*1e3)
	r.figure("S1 p99 ms", lat.p99.Seconds()*1e3)
	r.figure("S1 relay cores", w.cpu.relay)
	if msgs := float64(w.sent) / float64(sc.s1MsgSize); msgs > 0 {
		e.s1PerMsg = time.Duration(w.cpu.relay * w.dur.Seconds() / msgs * 1e9)
	}
	r.add("S1", "relay CPU", "< 1 core", fmt.Sprintf("%.2f cores (CPU in use: %s)", w.cpu.relay, w.cpu), ptr(w.cpu.relay < 1))
	in := float64(w.sent) / w.dur.Seconds()
	st := float64(w.stored) / w.dur.Seconds()
	// Growing: the unstored backlog trends up by more than 2 % of the
	// ingest rate, or ends above two seconds of input.
	growing := w.lagTrend > 0.02*in || float64(w.lag1) > 2*in
	r.add("S5", "stored vs ingested bytes/s during S1", "no growing backlog",
		fmt.Sprintf("ingested %s/s, stored %s/s; unstored %s at start, %s at end, trend %+.0f kB/s (relay pending max %s); %.0f commits/s of %s mean",
			mb(in), mb(st), mb(float64(w.lag0)), mb(float64(w.lag1)), w.lagTrend/1e3, mb(w.pendingMax), w.commits/w.dur.Seconds(),
			fmtDur(time.Duration(w.commitSecs/max(1, w.commits)*1e9))),
		ptr(!growing))
	e.reportIndex(w, st)
}

// reportIndex says how the search indexer kept up with what S1 stored
// (stored bytes/s). It works at most --index-busy-share of the time while
// the relay's goroutines wait for a CPU, so on a machine S1 fills it falls
// behind by design and catches up after.
func (e *env) reportIndex(w window, stored float64) {
	x := w.index
	rate := x.indexed / w.dur.Seconds()
	e.rep.add("S1", "search indexing during S1", "keeps up with what is stored",
		fmt.Sprintf("indexed %s/s of %s/s stored; index lag %s at start, %s at end, trend %+.0f kB/s; rested %.1f of %.0f s for streaming",
			mb(rate), mb(stored), mb(x.lag0), mb(x.lag1), x.trend/1e3, x.rested, w.dur.Seconds()),
		ptr(rate >= 0.95*stored && x.trend < 0.02*stored))
	e.rep.figure("S1 indexed MB/s", rate/1e6)
}

// mb formats bytes as MB (10^6), with three significant digits.
func mb(b float64) string {
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.3g GB", b/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.3g MB", b/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.3g kB", b/1e3)
	default:
		return fmt.Sprintf("%.0f B", b)
	}
}
