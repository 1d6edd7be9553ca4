package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/creack/pty"

	"switchboard/internal/wire"
)

// realAgent is a real agent (internal/agent) running in a child process.
type realAgent struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

// startRealAgent starts an agent process connected to the relay.
func (e *env) startRealAgent(to relayAddr, name string) (*realAgent, error) {
	dir, err := os.MkdirTemp(e.work, "agent-")
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.Command(self) // Child takes over before any flag is parsed
	cmd.Env = append(os.Environ(), envAgentChild+"=1", envAgentRelay+"="+to.url, envAgentName+"="+name, envAgentDir+"="+dir,
		envAgentCA+"="+to.caFile)
	cmd.Stdout, cmd.Stderr = e.cfg.Log, e.cfg.Log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start agent: %w", err)
	}
	ra := &realAgent{name: name, cmd: cmd, done: make(chan error, 1)}
	go func() { ra.done <- cmd.Wait() }()
	return ra, nil
}

// stop ends the agent as a service manager would: SIGTERM, then SIGKILL
// if it has not exited within 10 s.
func (ra *realAgent) stop() {
	_ = ra.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ra.done:
	case <-time.After(10 * time.Second):
		_ = ra.cmd.Process.Kill()
		<-ra.done
	}
}

// waitFor polls cond every 10 ms for up to d.
func waitFor(d time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// waitAgent waits until the dashboard sees the named agent connected.
func waitAgent(d *dash, name string) error {
	return waitFor(30*time.Second, "agent "+name+" to connect", func() bool {
		for _, a := range d.c.State().Agents {
			if a.Name == name && a.Status != wire.AgentOffline {
				return true
			}
		}
		return false
	})
}

// runOne runs a command on the named agent and returns its id.
func runOne(ctx context.Context, d *dash, name string, spec wire.CommandSpec) (string, error) {
	cmds, err := d.c.Run(ctx, wire.Targets{Agents: []string{name}}, spec)
	if err != nil {
		return "", fmt.Errorf("run: %w", err)
	}
	if len(cmds) != 1 {
		return "", fmt.Errorf("run selected %d agents, want 1", len(cmds))
	}
	return cmds[0].ID, nil
}

// writePatternFile writes n bytes of the pattern to path.
func writePatternFile(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); off < n; {
		k := int(min(int64(len(buf)), n-off))
		fillPattern(buf[:k], off)
		if _, err := f.Write(buf[:k]); err != nil {
			f.Close()
			return err
		}
		off += int64(k)
	}
	return f.Close()
}

// rawPTYRate reads a PTY running cat of path to its end, as a plain Go
// program would, and returns the bytes per second.
func rawPTYRate(path string, want int64) (float64, error) {
	cmd := exec.Command("cat", path)
	began := time.Now()
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 200, Rows: 50})
	if err != nil {
		return 0, fmt.Errorf("start cat in a pty: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := f.Read(buf)
		n += int64(k)
		if err != nil {
			break // EIO once cat has exited and closed the terminal
		}
	}
	elapsed := time.Since(began)
	_ = cmd.Wait()
	if n != want {
		return 0, fmt.Errorf("raw pty read %d bytes of %d", n, want)
	}
	return float64(n) / elapsed.Seconds(), nil
}

// streamPTY is S2 through a real PTY: a real agent runs cat of a file,
// a dashboard receives it; the raw PTY read rate is measured around it.
func (e *env) streamPTY(ctx context.Context) error {
	n := e.sc.s2PTYBytes
	path := filepath.Join(e.work, "s2-pty.dat")
	if err := writePatternFile(path, n); err != nil {
		return err
	}
	defer os.Remove(path)
	// Raw and relayed runs alternate, twice each, so that both meet the
	// same spells of a shared machine; each side's best run counts.
	var raws, rates []float64
	var lost int64
	for run := range 2 {
		raw, err := rawPTYRate(path, n)
		if err != nil {
			return err
		}
		rate, l, err := e.catThroughRelay(ctx, path, n, run)
		if err != nil {
			return err
		}
		raws, rates, lost = append(raws, raw), append(rates, rate), lost+l
	}
	raw, rate := slices.Max(raws), slices.Max(rates)
	e.rep.figure("S2 PTY % of raw", 100*rate/raw)
	e.rep.add("S2", fmt.Sprintf("one stream through a real PTY: agent runs cat of a %s file → relay (storing) → dashboard", mb(float64(n))),
		"≥ 80 % of the raw PTY read rate, 0 B lost",
		fmt.Sprintf("%s/s = %.0f %% of raw %s/s (relayed runs %s/s and %s/s; raw runs %s/s and %s/s, alternating); %d B lost",
			mb(rate), 100*rate/raw, mb(raw), mb(rates[0]), mb(rates[1]), mb(raws[0]), mb(raws[1]), lost),
		ptr(rate >= 0.8*raw && lost == 0))
	return nil
}

// catThroughRelay runs cat of path on a real agent, with a relay and
// database of its own for each run, and returns the rate at which a
// dashboard received it, and the bytes lost.
func (e *env) catThroughRelay(ctx context.Context, path string, n int64, run int) (float64, int64, error) {
	p, err := e.startRelay(ctx, fmt.Sprintf("s2-pty-%d.db", run))
	if err != nil {
		return 0, 0, err
	}
	defer p.stop()
	ra, err := e.startRealAgent(p.to(), "s2-pty")
	if err != nil {
		return 0, 0, err
	}
	defer ra.stop()
	d, err := dialDash(ctx, p.to(), "swbench-s2-pty")
	if err != nil {
		return 0, 0, err
	}
	defer d.close()
	if err := waitAgent(d, ra.name); err != nil {
		return 0, 0, err
	}
	waitProfile := e.profile(p, time.Duration(max(1, n/(100<<20)))*time.Second, fmt.Sprintf("s2-pty-%d", run))
	defer waitProfile()
	cpu := p.startCPU(ra.cmd.Process.Pid)
	began := time.Now()
	id, err := runOne(ctx, d, ra.name, wire.CommandSpec{Argv: []string{"cat", path}, Cols: 200, Rows: 50})
	if err != nil {
		return 0, 0, err
	}
	chk := &patternCheck{}
	if err := d.follow(id, chk); err != nil {
		return 0, 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, 300*time.Second)
	defer cancel()
	if err := d.waitEnded(wctx); err != nil {
		return 0, 0, err
	}
	u := cpu.read()
	e.rep.observe(u)
	e.logf("S2: cat through the relay: CPU in use: %s", u)
	cmd := d.c.State().Commands[id]
	if cmd.State != wire.StateExited || cmd.ExitCode == nil || *cmd.ExitCode != 0 {
		e.rep.problem("S2", fmt.Sprintf("cat through the relay ended %s (exit %v, %s)", cmd.State, cmd.ExitCode, cmd.Reason))
	}
	e.rep.problem("S2", d.problems(func(string) int64 { return n })...)
	e.rep.problem("S2", d.errs...)
	if len(d.drops) > 0 {
		e.rep.note("S2 through a PTY: the dashboard was disconnected %d times and resumed: %s", len(d.drops), d.drops[0])
	}
	res := chk.result()
	if res.received == 0 {
		return 0, 0, errors.New("no output arrived")
	}
	rate := float64(res.received) / time.Unix(0, chk.last).Sub(began).Seconds()
	return rate, res.missing + max(0, n-res.received) + cmd.LostBytes, nil
}
