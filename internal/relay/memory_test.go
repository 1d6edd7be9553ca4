package relay_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// memoryRig is a relay with one real agent and a dashboard that runs
// commands without following their output.
type memoryRig struct {
	t *testing.T
	r *relaytest.Relay
	w *watcher
}

func newMemoryRig(t *testing.T, cfg relay.Config) *memoryRig {
	cfg.RunsPerSecond = 1000
	r := relaytest.Start(t, cfg)
	startAgent(t, r, "box", nil)
	w := watch(t, r)
	w.waitAgent("box", wire.AgentIdle)
	return &memoryRig{t: t, r: r, w: w}
}

// runAll runs n commands that each print size bytes after shell, calls
// accepted with each id as soon as the relay accepts it, and waits for
// them all to exit with all their output.
func (m *memoryRig) runAll(n, size int, shell string, accepted func(id string)) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ids []string
	for range n {
		line := fmt.Sprintf("%shead -c %d /dev/zero | tr '\\0' x", shell, size)
		cmds, err := m.w.cl.Run(ctx, one("box"), wire.CommandSpec{Shell: line})
		if err != nil {
			m.t.Fatal(err)
		}
		if accepted != nil {
			accepted(cmds[0].ID)
		}
		ids = append(ids, cmds[0].ID)
	}
	for _, id := range ids {
		relaytest.Eventually(m.t, 2*time.Minute, "command "+id+" to exit", func() bool {
			c := m.w.command(id)
			return c.State == wire.StateExited && c.OutputBytes == int64(size)
		})
	}
}

// TestLongLivedAgentCostsOnlyLiveCommands runs many commands with large
// output on one agent connection: once they are over and stored, the
// process holds about what it held before. The relay kept every command's
// output log for as long as the agent stayed connected (issue 14: 300
// commands of 200 KiB held 58 MiB), and each recent command's tail.
func TestLongLivedAgentCostsOnlyLiveCommands(t *testing.T) {
	const (
		commands = 120
		each     = 200 << 10
		bound    = 12 << 20 // what may stay: caches, pools, GC slack; the leak was commands*each
	)
	m := newMemoryRig(t, relay.Config{})
	m.runAll(5, each, "", nil) // warm up: pools, caches, the store's first pages
	before := settledHeap()
	m.runAll(commands, each, "", nil)
	deadline := time.Now().Add(time.Minute) // the agent lets go of output once the relay acknowledges it
	after := settledHeap()
	defer func() { t.Logf("heap %d KiB before, %d KiB after", before>>10, after>>10) }()
	for ; after >= before+bound; after = settledHeap() {
		if time.Now().After(deadline) {
			t.Fatalf("heap %d MiB before, %d MiB a minute after %d commands of %d KiB ended; want less than %d MiB more",
				before>>20, after>>20, commands, each>>10, bound>>20)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestEndedCommandsOutputLogsAreCollected: once a command is over and
// has left the recent commands, nothing in the relay holds its output
// log, although its agent is still connected.
func TestEndedCommandsOutputLogsAreCollected(t *testing.T) {
	const recent, commands = 2, 20
	m := newMemoryRig(t, relay.Config{RecentCommands: recent})
	var refs []func() bool
	// One at a time: the relay keeps the commands that ended last, and an
	// agent running several at once may end them in any order.
	for range commands {
		m.runAll(1, 1000, "sleep 0.1; ", func(id string) {
			ref := relay.OutputLogAlive(m.r.Instance(), id)
			if ref == nil || !ref() {
				t.Fatalf("command %s is not in the relay's memory right after it was accepted", id)
			}
			refs = append(refs, ref)
		})
	}
	old := refs[:commands-recent] // the recent ones stay, by design
	alive := func() []int {
		runtime.GC()
		var held []int
		for i, ref := range old {
			if ref() {
				held = append(held, i)
			}
		}
		return held
	}
	deadline := time.Now().Add(time.Minute)
	for held := alive(); len(held) > 0; held = alive() {
		if time.Now().After(deadline) {
			t.Fatalf("a minute after they ended, the relay still holds the output logs of commands %v of %d", held, len(old))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settledHeap is the live heap after a full collection.
func settledHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
