package agent

import (
	"context"
	"time"

	"switchboard/internal/wire"
)

// Attention timing.
const (
	// probeEvery is how often the watcher looks at running commands'
	// processes. Two agreeing looks make "waiting", so a prompt is found
	// 1-2 periods after it appears.
	probeEvery = 250 * time.Millisecond
	// DefaultQuietAfter is the silence after which a command that is not
	// known to be busy is "quiet".
	DefaultQuietAfter = 5 * time.Second
	// bellGrace: a bell this soon after input answers the keys (tab
	// completion that found nothing, a key a program refused), not a call.
	bellGrace = 500 * time.Millisecond
	// titleEvery: window-title changes go to the relay at most this often
	// per command; some programs animate their title.
	titleEvery = time.Second
)

// probeVerdict is what one look at a command's processes found.
type probeVerdict uint8

const (
	probeBusy      probeVerdict = iota // running, or not reading the terminal
	probeWaiting                       // blocked reading the terminal, idle since the last look
	probeIdleShell                     // the same, by an interactive shell: at its prompt
)

// attention is one command's attention state and the signals it is
// decided from (docs/awareness.md). Agent.mu guards it.
type attention struct {
	// declared is what the program said: a hook (agent notify) or a
	// terminal notification. Input clears a declared "waiting": a person
	// answered.
	declared   wire.Attention
	declReason string

	probe       probeVerdict // the watcher's last verdict
	probeReason string       // the screen's last line when it began

	lastOutput time.Time // to the watcher's resolution (probeEvery)
	seenEnd    int64     // output offset at the watcher's last look
	lastInput  time.Time
	nextTitle  string // the latest window title seen; reported by titleEvery
	titleAt    time.Time

	// Decided, and reported to the relay.
	state   wire.Attention
	reason  string
	title   string
	since   time.Time
	version uint64 // counts changes; the writer sends each version once per connection
}

func newAttention(now time.Time) attention {
	return attention{lastOutput: now, state: wire.AttentionWorking, since: now, version: 1}
}

// decide works out the state from the signals; it reports a change.
func (at *attention) decide(now time.Time, quietAfter time.Duration) bool {
	st, reason := at.evaluate(now, quietAfter)
	changed := st != at.state || reason != at.reason
	if st != at.state {
		at.since = now
		if st == wire.AttentionQuiet {
			at.since = at.lastOutput
		}
	}
	at.state, at.reason = st, reason
	if at.nextTitle != at.title && now.Sub(at.titleAt) >= titleEvery {
		at.title, at.titleAt, changed = at.nextTitle, now, true
	}
	if changed {
		at.version++
	}
	return changed
}

// evaluate ranks the signals: what the program declared about itself
// (idle or waiting), then the process state, then a declared "working",
// then silence, which is only ever "quiet".
func (at *attention) evaluate(now time.Time, quietAfter time.Duration) (wire.Attention, string) {
	switch {
	case at.declared == wire.AttentionIdle || at.declared == wire.AttentionWaiting:
		return at.declared, at.declReason
	case at.probe == probeWaiting:
		return wire.AttentionWaiting, at.probeReason
	case at.probe == probeIdleShell:
		return wire.AttentionIdle, at.probeReason
	case at.declared == wire.AttentionWorking:
		return wire.AttentionWorking, at.declReason
	case now.Sub(at.lastOutput) >= quietAfter:
		return wire.AttentionQuiet, ""
	}
	return wire.AttentionWorking, ""
}

// hook records what `agent notify` said.
func (at *attention) hook(st wire.Attention, message string) {
	if st == wire.AttentionWaiting && message == "" {
		message = "needs input"
	}
	at.declared, at.declReason = st, message
}

// scanned records what the output scanner found in a read.
func (at *attention) scanned(res *scanResult, now time.Time) {
	switch {
	case res.notified:
		at.declared, at.declReason = wire.AttentionWaiting, res.notice
		if at.declReason == "" {
			at.declReason = "notification"
		}
	case res.bell && now.Sub(at.lastInput) >= bellGrace && at.declared != wire.AttentionWaiting:
		at.declared, at.declReason = wire.AttentionWaiting, "bell"
	}
	if res.titled {
		at.nextTitle = res.title
	}
}

// input records that a person typed into the command.
func (at *attention) input(now time.Time) {
	at.lastInput = now
	if at.declared == wire.AttentionWaiting {
		at.declared, at.declReason = "", ""
	}
}

// observe records one look of the watcher: output since the last one, and
// the process state.
func (at *attention) observe(now time.Time, end int64, v probeVerdict, tail *outputTail) {
	if end != at.seenEnd {
		at.seenEnd, at.lastOutput = end, now
	}
	if v != probeBusy && v != at.probe {
		at.probeReason = lastLine(tail.bytes())
	}
	at.probe = v
}

// report is the attention message for the relay.
func (at *attention) report(id string, now time.Time) *wire.AttentionReport {
	return &wire.AttentionReport{CommandID: id, State: at.state, Reason: at.reason, Title: at.title,
		AgeMS: max(now.Sub(at.since).Milliseconds(), 0)}
}

// watchAttention looks at every running command each probeEvery until ctx
// ends. It runs in one goroutine, started and ended by Run; the probes
// are its own, so it reads /proc without holding Agent.mu.
func (a *Agent) watchAttention(ctx context.Context) {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			a.lookAtCommands(now)
		}
	}
}

func (a *Agent) lookAtCommands(now time.Time) {
	type look struct {
		c *command
		p *ttyProbe
		v probeVerdict
	}
	a.mu.Lock()
	looks := make([]look, 0, len(a.order))
	for _, c := range a.order {
		if c.proc != nil {
			looks = append(looks, look{c: c, p: c.probe, v: probeBusy})
		}
	}
	a.mu.Unlock()
	for i := range looks {
		if looks[i].p != nil {
			looks[i].v = looks[i].p.sample()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, l := range looks {
		c := l.c
		if c.proc == nil {
			continue // ended meanwhile
		}
		c.attn.observe(now, c.out.end, l.v, &c.tail)
		if c.attn.decide(now, a.cfg.QuietAfter) {
			a.notifyLocked()
		}
	}
}
