package bench

import (
	"context"
	"fmt"
	"time"

	"switchboard/internal/wire"
)

// runStream is S2: one stream as fast as it goes, first from a simulated
// agent, then from a real agent running cat of a file in a real PTY,
// compared with reading that PTY directly.
func runStream(ctx context.Context, e *env) error {
	if err := e.streamSimulated(ctx); err != nil {
		return err
	}
	return e.streamPTY(ctx)
}

// streamSimulated sends s2Bytes from a simulated agent as fast as the
// relay takes them, keeping at most s2Window bytes unacknowledged as the
// real agent keeps at most its buffer, to one dashboard.
func (e *env) streamSimulated(ctx context.Context) error {
	sc := e.sc
	p, err := e.startRelay(ctx, "s2.db")
	if err != nil {
		return err
	}
	defer p.stop()
	started := make(chan *emitter, 1)
	agents, err := dialAgents(ctx, p.to(), 1, 1, "s2", map[string]string{"pool": "s2"}, func(a *simAgent, c wire.Command) {
		started <- &emitter{a: a, cmd: c.ID}
	})
	if err != nil {
		return err
	}
	defer closeAgents(agents)
	d, err := dialDash(ctx, p.to(), "swbench-s2")
	if err != nil {
		return err
	}
	defer d.close()
	ems, err := startAll(ctx, d, started, 1, wire.Targets{Labels: map[string]string{"pool": "s2"}})
	if err != nil {
		return err
	}
	em := ems[0]
	chk := &patternCheck{}
	if err := d.follow(em.cmd, chk); err != nil {
		return err
	}

	e.logf("S2: %s from a simulated agent in %s frames", mb(float64(sc.s2Bytes)), mb(float64(sc.s2Frame)))
	cpu := p.startCPU()
	waitProfile := e.profile(p, time.Duration(max(1, sc.s2Bytes/(200<<20)))*time.Second, "s2")
	began := time.Now()
	sentAt, err := em.blast(ctx, sc.s2Bytes, sc.s2Frame, sc.s2Window)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	if err := d.waitEnded(wctx); err != nil {
		e.rep.problem("S2", err.Error())
	}
	if err := em.a.waitAcked(wctx, em.cmd, sc.s2Bytes, true); err != nil {
		e.rep.problem("S2", err.Error())
	}
	storedAt := time.Now()
	cores := cpu.read()
	e.rep.observe(cores)
	waitProfile()
	e.rep.problem("S2", d.problems(func(string) int64 { return em.sent.Load() })...)
	e.rep.problem("S2", d.errs...)
	if len(d.drops) > 0 {
		e.rep.note("S2: the dashboard was disconnected %d times (it resumed from its offset each time): %s", len(d.drops), d.drops[0])
	}
	behind := fellBehind(p)
	if behind > 0 {
		e.rep.note("S2: the relay reads the agent faster than it can write to the dashboard: %.0f times the dashboard fell 8 MiB behind "+
			"and the relay moved it from the live fan-out to a paced catch-up, which sent what it missed and rejoined the fan-out.", behind)
	}

	res := chk.result()
	elapsed := time.Unix(0, chk.last).Sub(began)
	rate := float64(res.received) / elapsed.Seconds()
	e.rep.note("S2: the simulated agent keeps at most %s unacknowledged, as the real agent's buffer does, so the end-to-end rate includes storing.", mb(float64(sc.s2Window)))
	e.rep.add("S2", fmt.Sprintf("one stream end to end, simulated agent → relay (storing) → dashboard, %s in %s frames",
		mb(float64(sc.s2Bytes)), mb(float64(sc.s2Frame))), "≥ 200 MB/s, 0 B lost",
		fmt.Sprintf("%s/s (%s); %d B lost; %d disconnects; fell behind and caught up %.0f times; CPU in use: %s", mb(rate), fmtDur(elapsed),
			res.missing+max(0, sc.s2Bytes-res.received), len(d.drops), behind, cores),
		ptr(rate >= 200e6 && res.missing == 0 && res.received == sc.s2Bytes))
	e.rep.figure("S2 MB/s", rate/1e6)
	in := float64(sc.s2Bytes) / sentAt.Sub(began).Seconds()
	st := float64(sc.s2Bytes) / storedAt.Sub(began).Seconds()
	e.rep.add("S5", "stored vs ingested bytes/s during S2 (simulated agent)", "no growing backlog",
		fmt.Sprintf("ingested %s/s, stored %s/s (all stored %s after the last byte was sent)",
			mb(in), mb(st), fmtDur(storedAt.Sub(sentAt))), ptr(storedAt.Sub(sentAt) < time.Second))
	if err := p.stop(); err != nil {
		e.rep.problem("S2", "relay stop: "+err.Error())
	}
	return e.checkStored("S2", "s2.db", ems, func() streamCheck { return &patternCheck{} })
}

// blast sends total bytes of pattern in frames of frame bytes, keeping at
// most window bytes unacknowledged, then reports the exit. It returns
// when the last frame was sent.
func (em *emitter) blast(ctx context.Context, total int64, frame int, window int64) (time.Time, error) {
	buf := make([]byte, frame)
	began := time.Now()
	for off := int64(0); off < total; {
		n := int(min(int64(frame), total-off))
		if err := em.a.waitAcked(ctx, em.cmd, off+int64(n)-window, false); err != nil {
			return time.Time{}, err
		}
		fillPattern(buf[:n], off)
		if err := em.a.sendOutput(em.cmd, off, buf[:n]); err != nil {
			return time.Time{}, fmt.Errorf("send output: %w", err)
		}
		off += int64(n)
		em.sent.Store(off)
	}
	sentAt := time.Now()
	return sentAt, em.a.exit(em.cmd, total, began)
}
