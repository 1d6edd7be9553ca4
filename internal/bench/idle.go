package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"
)

// runIdle is S4: many idle agents and dashboards connecting at once; the
// time until all are connected and every dashboard sees every agent, and
// the relay's memory per connection.
func runIdle(ctx context.Context, e *env) error {
	sc := e.sc
	conns := sc.s4Agents + sc.s4Dashes
	if lim := fileLimit(); lim < uint64(conns)+256 {
		return fmt.Errorf("open file limit %d is too low for %d connections; raise it (ulimit -n) or run as root", lim, conns)
	}
	p, err := e.startRelay(ctx, "s4.db")
	if err != nil {
		return err
	}
	defer p.stop()
	time.Sleep(time.Second)
	rss0, err := p.rss()
	if err != nil {
		return err
	}

	e.logf("S4: connecting %d agents and %d dashboards", sc.s4Agents, sc.s4Dashes)
	waitProfile := e.profile(p, 10*time.Second, "s4")
	began := time.Now()
	var agents []*simAgent
	var dashes []*dash
	var aerr, derr error
	var wg sync.WaitGroup
	wg.Go(func() {
		agents, aerr = dialAgents(ctx, p.to(), sc.s4Agents, 200, "s4", map[string]string{"pool": "s4"}, nil)
	})
	wg.Go(func() { dashes, derr = dialDashes(ctx, p.to(), sc.s4Dashes) })
	wg.Wait()
	defer closeAgents(agents)
	defer func() {
		for _, d := range dashes {
			d.close()
		}
	}()
	if aerr != nil || derr != nil {
		return fmt.Errorf("connect: %v %v", aerr, derr)
	}
	connected := time.Since(began)
	err = waitFor(120*time.Second, "every dashboard to see every agent", func() bool {
		for _, d := range dashes {
			if d.agentsOnline() < sc.s4Agents {
				return false
			}
		}
		return true
	})
	if err != nil {
		e.rep.problem("S4", err.Error())
	}
	consistent := time.Since(began)

	stop := make(chan struct{})
	hb := sync.WaitGroup{}
	hb.Go(func() { heartbeats(agents, stop) })
	time.Sleep(3 * time.Second) // idle, heartbeats going, before measuring memory
	rss1, err := p.rss()
	if err != nil {
		return err
	}
	// The connection storm leaves garbage that an idle relay collects only
	// at its next GC; settled memory is measured after collections (the
	// heap profile endpoint runs one) and the scavenger's first passes.
	var heapPath string
	if e.cfg.ProfileDir != "" {
		heapPath = filepath.Join(e.cfg.ProfileDir, "s4.heap.pprof")
	} else {
		heapPath = filepath.Join(e.work, "s4.heap.pprof")
	}
	// Two collections: each halves at most once the stack of a goroutine
	// that uses a quarter of it or less, and the storm's hellos grew them.
	for range 2 {
		if err := p.fetch("/debug/pprof/heap?gc=1", heapPath); err != nil {
			e.logf("heap profile: %v", err)
		}
	}
	time.Sleep(5 * time.Second)
	rss2, err := p.rss()
	if err != nil {
		return err
	}
	peak, _ := p.peakRSS()
	m, _ := p.metrics()
	close(stop)
	hb.Wait()
	waitProfile()
	for _, d := range dashes {
		e.rep.problem("S4", d.errs...)
		e.rep.problem("S4", d.drops...)
	}
	for _, a := range agents {
		a.mu.Lock()
		if a.readErr != nil {
			e.rep.problem("S4", fmt.Sprintf("agent %s disconnected: %v", a.id, a.readErr))
		}
		a.mu.Unlock()
	}

	per := float64(rss2-rss0) / float64(conns)
	e.rep.add("S4", fmt.Sprintf("relay memory per connection, %d idle agents + %d dashboards (RSS delta / connections, settled after a GC)", sc.s4Agents, sc.s4Dashes),
		"< 30 KB", fmt.Sprintf("%s (RSS %s idle → %s settled; %s/connection 3 s after the storm, peak %s; heap in use %s, stacks %s, %.0f goroutines)",
			mb(per), mb(float64(rss0)), mb(float64(rss2)), mb(float64(rss1-rss0)/float64(conns)), mb(float64(peak)),
			mb(m["go_memstats_heap_inuse_bytes"]), mb(m["go_memstats_stack_inuse_bytes"]), m["go_goroutines"]), ptr(per < 30e3))
	e.rep.add("S4", "time for all to connect (agents welcomed, dashboards holding their snapshot)", "< 10 s",
		fmt.Sprintf("%s; every dashboard saw every agent online after %s", fmtDur(connected), fmtDur(consistent)),
		ptr(connected < 10*time.Second && consistent < 10*time.Second))
	return nil
}

// heartbeats sends each agent a heartbeat every 5 s, as real agents do,
// spread evenly, until stop closes.
func heartbeats(agents []*simAgent, stop chan struct{}) {
	const period, tick = 5 * time.Second, 50 * time.Millisecond
	per := max(1, len(agents)*int(tick)/int(period))
	t := time.NewTicker(tick)
	defer t.Stop()
	for i := 0; ; {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		for range per {
			_ = agents[i%len(agents)].heartbeat()
			i++
		}
	}
}
