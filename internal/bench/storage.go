package bench

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/wire"
)

// checkStored reads every emitter's output back from the relay's database,
// after the relay has stopped, and checks it is all there exactly once.
func (e *env) checkStored(scn, db string, ems []*emitter, newCheck func() streamCheck) error {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(e.work, db))
	if err != nil {
		return err
	}
	defer st.Close()
	for _, em := range ems {
		if err := e.checkStoredStream(ctx, scn, st, em.cmd, em.sent.Load(), newCheck()); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) checkStoredStream(ctx context.Context, scn string, st store.Store, id string, want int64, chk streamCheck) error {
	for off := int64(0); ; {
		data, start, err := st.ReadOutput(ctx, id, off, 1<<20)
		if err != nil {
			return fmt.Errorf("read stored output of %s: %w", id, err)
		}
		if len(data) == 0 {
			break
		}
		chk.feed(start, data, 0)
		off = start + int64(len(data))
	}
	for _, p := range chk.result().problems(id, want) {
		e.rep.problem(scn, "stored "+p)
	}
	return nil
}

// runStorage is S5's start-up half: the relay's start time on an empty
// database and on one holding a long history. The throughput half is
// measured during S1 and S2.
func runStorage(ctx context.Context, e *env) error {
	sc := e.sc
	empty, err := e.startTimes(ctx, "s5-empty.db", sc.s5Starts)
	if err != nil {
		return err
	}
	path := filepath.Join(e.work, "s5-history.db")
	began := time.Now()
	if err := buildHistory(ctx, path, sc.s5History); err != nil {
		return err
	}
	size := fileSize(path)
	e.logf("S5: built a %s history database in %s", mb(float64(size)), time.Since(began).Round(time.Millisecond))
	full, err := e.startTimes(ctx, "s5-history.db", sc.s5Starts)
	if err != nil {
		return err
	}
	med, worst := median(full), slices.Max(full)
	e.rep.add("S5", fmt.Sprintf("relay start until /healthz answers, %s database (%d starts; page cache warm)", mb(float64(size)), len(full)),
		"< 1 s", fmt.Sprintf("median %s, max %s (empty database: median %s)", fmtDur(med), fmtDur(worst), fmtDur(median(empty))),
		ptr(worst < time.Second))
	return nil
}

// startTimes starts and stops a relay on db n times.
func (e *env) startTimes(ctx context.Context, db string, n int) ([]time.Duration, error) {
	var out []time.Duration
	for range n {
		p, err := e.startRelay(ctx, db)
		if err != nil {
			return nil, err
		}
		out = append(out, p.started)
		if err := p.stop(); err != nil {
			e.rep.problem("S5", "relay stop: "+err.Error())
		}
	}
	return out, nil
}

// median is the middle value (of an even count, the upper middle one).
func median[T cmp.Ordered](v []T) T {
	var zero T
	if len(v) == 0 {
		return zero
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func fileSize(path string) int64 {
	var n int64
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(path + suffix); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// History shape: commands of historyOutput bytes each, stored in chunks
// of historyChunk, on historyAgents agents; the last historyLive commands
// are still running, as after a relay crash.
const (
	historyOutput = 256 << 10
	historyChunk  = 16 << 10
	historyAgents = 50
	historyLive   = 100
	historyBatch  = 32 << 20 // bytes of output per transaction
)

// buildHistory writes about total bytes of command history through the
// store API, as a relay would have stored it.
func buildHistory(ctx context.Context, path string, total int64) error {
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	agents := make([]wire.Agent, historyAgents)
	for i := range agents {
		agents[i] = wire.Agent{AgentInfo: wire.AgentInfo{ID: wire.NewID("a"), Name: fmt.Sprintf("hist-%02d", i), MaxConcurrent: 4},
			Status: wire.AgentOffline, LastSeen: time.Now().UTC()}
	}
	n := int(max(1, total/historyOutput))
	data := make([]byte, historyChunk)
	fillPattern(data, 0)
	t0 := time.Now().Add(-time.Duration(n) * time.Second).UTC()
	b := &store.Batch{Agents: agents}
	var seq uint64
	for i := range n {
		cmd := historyCommand(agents[i%len(agents)], i, n, t0)
		b.Commands = append(b.Commands, cmd)
		for off := int64(0); off < historyOutput; off += historyChunk {
			b.Output = append(b.Output, store.Chunk{CommandID: cmd.ID, Offset: off, Data: data})
		}
		seq++
		b.Events = append(b.Events, store.Event{Seq: seq, At: cmd.CreatedAt, Kind: wire.TypeCommandEvent, Subject: cmd.ID,
			Data: wire.MustEncode(&wire.CommandEvent{Seq: seq, Command: cmd})})
		if len(b.Output)*historyChunk >= historyBatch || i == n-1 {
			if err := st.Apply(ctx, b); err != nil {
				st.Close()
				return fmt.Errorf("build history: %w", err)
			}
			b = &store.Batch{}
		}
	}
	return st.Close()
}

func historyCommand(a wire.Agent, i, n int, t0 time.Time) wire.Command {
	at := t0.Add(time.Duration(i) * time.Second)
	c := wire.Command{ID: wire.NewID("c"), AgentID: a.ID, AgentName: a.Name, State: wire.StateRunning,
		CommandSpec: wire.CommandSpec{Shell: fmt.Sprintf("make test # %d", i)}, RequestedBy: "swbench",
		CreatedAt: at, StartedAt: at, OutputBytes: historyOutput}
	if i < n-historyLive {
		code := 0
		c.State, c.ExitCode, c.EndedAt, c.DurationMS = wire.StateExited, &code, at.Add(500*time.Millisecond), 500
	}
	return c
}
