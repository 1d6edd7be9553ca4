package agent

import (
	"fmt"
	"syscall"
	"time"

	"switchboard/internal/wire"
)

// forgetMemory is how many done commands the agent remembers, so that a
// start delayed past its command's whole life is not run a second time.
const forgetMemory = 1024

// command is one command the agent holds: running, or ended but not yet
// acknowledged by the relay as done.
type command struct {
	spec wire.Command // static after creation

	// Guarded by Agent.mu.
	proc        *process // nil before start and after the exit is recorded
	pid         int
	startedAt   time.Time
	startedSent bool // the relay was told (started), on some connection
	out         outBuffer
	exit        *wire.Exited // set once the process ended and its output was drained
	stream      stream       // what the current connection has sent; used by its writer
	attn        attention    // whether it needs a person (attention.go)
	tail        outputTail   // its latest output, for the prompt a waiting command shows
	key         string       // the secret its `agent notify` proves itself with; static

	probe  *ttyProbe   // set with proc; used by the attention watcher alone
	scan   termScanner // owned by the command's reader goroutine
	timing timingLog   // timing records not yet acknowledged (timing.go)
}

// recentIDs remembers the last forgetMemory ids it was given.
type recentIDs struct {
	set  map[string]struct{}
	ring []string
}

func (r *recentIDs) add(id string) {
	if r.set == nil {
		r.set = make(map[string]struct{})
	}
	if len(r.ring) == forgetMemory {
		delete(r.set, r.ring[0])
		r.ring = r.ring[1:]
	}
	r.set[id] = struct{}{}
	r.ring = append(r.ring, id)
}

func (r *recentIDs) has(id string) bool {
	_, ok := r.set[id]
	return ok
}

// start runs a command the relay sent. A start for a command the agent
// holds, or held recently, is ignored: it can arrive twice around a
// reconnect (protocol rule 5).
func (a *Agent) start(spec wire.Command) {
	log := a.log.With("command_id", spec.ID)
	if !wire.ValidID(spec.ID) {
		log.Error("relay sent a start with an invalid command id; ignored")
		return
	}
	a.mu.Lock()
	if a.cmds[spec.ID] != nil || a.forgotten.has(spec.ID) {
		a.mu.Unlock()
		log.Debug("ignoring a duplicate start")
		return
	}
	refusal := a.admitLocked(spec)
	c := a.addLocked(spec)
	if refusal == "" {
		a.procs.Add(1) // under mu, so never after shutdown began to wait
	}
	a.mu.Unlock()

	if refusal != "" {
		log.Warn("refusing command", "reason", refusal, "requested_by", spec.RequestedBy)
		a.finish(c, rejected(refusal))
		return
	}
	if err := a.launch(c); err != nil {
		log.Warn("command could not start", "err", err)
	}
}

// admitLocked returns why spec cannot run now, or "".
func (a *Agent) admitLocked(spec wire.Command) string {
	if reason := a.allow.check(spec.CommandSpec); reason != "" {
		return reason
	}
	if a.shutting {
		return "the agent is shutting down"
	}
	running := 0
	for _, c := range a.order {
		if c.exit == nil && !c.spec.Session {
			running++
		}
	}
	if running >= a.cfg.MaxConcurrent {
		return fmt.Sprintf("the agent already runs %d commands, its max_concurrent limit", running)
	}
	return ""
}

func (a *Agent) addLocked(spec wire.Command) *command {
	c := &command{spec: spec, key: newKey(), timing: newTimingLog()}
	a.cmds[spec.ID] = c
	a.order = append(a.order, c)
	return c
}

// startSession starts the configured session program.
func (a *Agent) startSession() error {
	spec := wire.Command{
		ID: wire.NewID("s"), AgentID: a.info.ID, AgentName: a.info.Name, Session: true,
		CommandSpec: wire.CommandSpec{Argv: a.cfg.Session},
	}
	a.mu.Lock()
	if a.shutting {
		a.mu.Unlock()
		return errShuttingDown
	}
	c := a.addLocked(spec)
	a.procs.Add(1)
	a.mu.Unlock()
	if err := a.launch(c); err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	a.log.Info("session started", "command_id", spec.ID, "argv", a.cfg.Session)
	return nil
}

// launch starts c's process and a goroutine that runs it to its end. It
// owns one count of a.procs, taken by the caller.
func (a *Agent) launch(c *command) error {
	p, err := startProcess(c.spec.CommandSpec, a.cfg.CancelGrace, a.commandEnv(c))
	if err != nil {
		a.procs.Done()
		a.finish(c, rejected(err.Error()))
		return err
	}
	a.attach(c, p)
	go func() {
		defer a.procs.Done()
		a.finish(c, p.run(func(b []byte) { a.output(c, b) }))
	}()
	return nil
}

// attach records c's running process. A shutdown that began while it was
// starting missed it, so it is stopped here.
func (a *Agent) attach(c *command, p *process) {
	a.mu.Lock()
	c.proc, c.pid, c.startedAt = p, p.pid, p.started
	c.probe, c.attn = newTTYProbe(p.ptmx, p.pid), newAttention(p.started)
	c.timing.resize(0, 0, int(dim(c.spec.Cols, defaultCols)), int(dim(c.spec.Rows, defaultRows)))
	stopping := a.shutting
	a.notifyLocked()
	a.mu.Unlock()
	a.log.Info("command started", "command_id", c.spec.ID, "pid", p.pid)
	if stopping {
		p.stop(wire.StateCanceled, "the agent shut down", syscall.SIGTERM)
	}
}

func rejected(reason string) result {
	now := time.Now()
	return result{state: wire.StateRejected, reason: reason, started: now, ended: now}
}

// finish records how c ended. Its output is complete by now.
func (a *Agent) finish(c *command, r result) {
	a.mu.Lock()
	c.proc = nil
	c.exit = &wire.Exited{
		CommandID: c.spec.ID, State: r.state, ExitCode: r.exitCode, Signal: r.signal,
		Reason: r.reason, Offset: c.out.end, EndedAt: r.ended.UTC(),
		DurationMS: r.ended.Sub(r.started).Milliseconds(),
	}
	ex := *c.exit
	a.notifyLocked()
	a.mu.Unlock()
	a.log.Info("command ended", "command_id", ex.CommandID, "state", ex.State, "exit_code", derefOr(ex.ExitCode, -1),
		"signal", ex.Signal, "reason", ex.Reason, "output_bytes", ex.Offset, "duration_ms", ex.DurationMS)
}

func derefOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// output adds a read from c's terminal to its buffer, keeping the total
// within BufferBytes. Overflow drops the oldest bytes of whichever command
// holds the most: under a flood that is the flooding command itself, and
// a command that printed a little is never emptied to make room for one
// that printed a lot.
func (a *Agent) output(c *command, b []byte) {
	var found scanResult
	c.scan.scan(b, &found)
	a.mu.Lock()
	defer a.mu.Unlock()
	c.tail.write(b)
	if found != (scanResult{}) {
		now := time.Now()
		c.attn.scanned(&found, now)
		c.attn.decide(now, a.cfg.QuietAfter)
	}
	c.timing.output(c.sinceStart(), c.out.end)
	c.out.append(b)
	a.buffered += int64(len(b))
	for excess := a.buffered - a.cfg.BufferBytes; excess > 0; excess = a.buffered - a.cfg.BufferBytes {
		if a.dropLocked(a.largestLocked(), excess) == 0 {
			break
		}
	}
	a.notifyLocked()
}

func (a *Agent) dropLocked(c *command, n int64) int64 {
	dropped, newRange := c.out.dropOldest(n)
	a.buffered -= dropped
	c.timing.ack(c.out.start) // the records of lost output go with it
	if newRange {
		a.log.Warn("output buffer full: dropping the oldest unacknowledged output",
			"command_id", c.spec.ID, "from", c.out.drops[len(c.out.drops)-1].from, "buffer_bytes", a.cfg.BufferBytes)
	}
	return dropped
}

func (a *Agent) largestLocked() *command {
	var big *command
	for _, c := range a.order {
		if big == nil || c.out.size() > big.out.size() {
			big = c
		}
	}
	return big
}

// input queues bytes typed into command id's terminal, or refuses them
// if the agent takes no input.
func (a *Agent) input(id string, data []byte) {
	if a.cfg.NoInput {
		a.refuseInput(id, len(data))
		return
	}
	p := a.typedInto(id)
	if p == nil {
		a.log.Debug("input for a command that is not running; dropped", "command_id", id, "bytes", len(data))
		return
	}
	if err := p.sendInput(data); err != nil {
		a.log.Warn("input dropped", "command_id", id, "bytes", len(data), "err", err)
		return
	}
	a.noteInput(id, data)
}

// refuseInput drops input and tells the relay why. Keystrokes come many
// a second, so each command's refusal is answered at most once a second.
func (a *Agent) refuseInput(id string, n int) {
	a.mu.Lock()
	answer := a.conn != nil && a.refused.due(id, time.Now())
	if answer {
		a.conn.reply(&wire.Error{Code: wire.CodeForbidden, CommandID: id,
			Message: fmt.Sprintf("agent %s does not accept input (--no-input)", a.cfg.Name)})
		a.notifyLocked()
	}
	a.mu.Unlock()
	if answer {
		a.log.Warn("refused input: this agent does not accept input (--no-input)", "command_id", id, "bytes", n)
	}
}

// refusals remembers when refused input to each command was last answered.
type refusals map[string]time.Time

const (
	refuseEvery  = time.Second
	refuseMemory = 1024 // commands remembered; past it, everything is forgotten
)

// due reports whether refused input to id should be answered now, and if
// so records that it was.
func (r *refusals) due(id string, now time.Time) bool {
	if last, ok := (*r)[id]; ok && now.Sub(last) < refuseEvery {
		return false
	}
	if *r == nil || len(*r) >= refuseMemory {
		*r = make(refusals)
	}
	(*r)[id] = now
	return true
}

func (a *Agent) resize(m *wire.Resize) {
	p := a.process(m.CommandID)
	if p == nil {
		a.log.Debug("resize for a command that is not running", "command_id", m.CommandID)
		return
	}
	if err := p.resize(m.Cols, m.Rows); err != nil {
		a.log.Warn("resize failed", "command_id", m.CommandID, "err", err)
		return
	}
	a.noteResize(m.CommandID, m.Cols, m.Rows)
}

func (a *Agent) cancel(m *wire.Cancel) {
	p := a.process(m.CommandID)
	if p == nil {
		a.log.Debug("cancel for a command that is not running", "command_id", m.CommandID)
		return
	}
	a.log.Info("cancelling command", "command_id", m.CommandID)
	p.stop(wire.StateCanceled, "cancelled", syscall.SIGINT)
}

// typedInto returns the running process of command id, or nil, and
// notes that a person typed into it.
func (a *Agent) typedInto(id string) *process {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.cmds[id]
	if c == nil || c.proc == nil {
		return nil
	}
	now := time.Now()
	c.attn.input(now)
	if c.attn.decide(now, a.cfg.QuietAfter) {
		a.notifyLocked()
	}
	return c.proc
}

// process returns the running process of command id, or nil.
func (a *Agent) process(id string) *process {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.cmds[id]; c != nil {
		return c.proc
	}
	return nil
}

// ack frees output the relay has stored, and forgets a command whose end
// is stored too.
func (a *Agent) ack(m *wire.Ack) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.cmds[m.CommandID]
	if c == nil {
		return
	}
	a.buffered -= c.out.ack(m.Offset)
	c.timing.ack(m.Offset)
	if !m.Done {
		return
	}
	if c.exit == nil {
		a.log.Warn("relay acknowledged the end of a command that is still running; keeping it", "command_id", m.CommandID)
		return
	}
	a.forgetLocked(c)
}

func (a *Agent) forgetLocked(c *command) {
	delete(a.cmds, c.spec.ID)
	for i, o := range a.order {
		if o == c {
			a.order = append(a.order[:i], a.order[i+1:]...)
			break
		}
	}
	a.buffered -= c.out.size()
	a.forgotten.add(c.spec.ID)
}

// holdingLocked lists every command not yet done, for hello.
func (a *Agent) holdingLocked() []wire.HeldCommand {
	held := make([]wire.HeldCommand, 0, len(a.order))
	for _, c := range a.order {
		held = append(held, wire.HeldCommand{CommandID: c.spec.ID, Offset: c.out.end, Exited: c.exit != nil})
	}
	return held
}

// running counts live processes, the session included, for heartbeats.
func (a *Agent) running() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.order {
		if c.proc != nil {
			n++
		}
	}
	return n
}
