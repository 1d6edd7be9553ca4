package relay_test

import (
	"context"
	"strings"
	"testing"

	"switchboard/internal/agent"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// rawEchoSession prints READY, then every byte it reads, visibly (cat -v
// in a raw terminal): whatever reaches its terminal shows in its output.
var rawEchoSession = []string{"sh", "-c", "stty raw -echo; printf READY; exec cat -v"}

// waitSession waits for the running session of an agent named name.
func (w *watcher) waitSession(name string) wire.Command {
	w.t.Helper()
	var session wire.Command
	relaytest.Eventually(w.t, waitLong, "the session of "+name, func() bool {
		for _, c := range w.cl.State().Commands {
			if c.Session && c.AgentName == name && c.State == wire.StateRunning {
				session = c
				return true
			}
		}
		return false
	})
	return session
}

// barrier returns once the relay has handled every message w sent before.
func (w *watcher) barrier() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if _, err := w.cl.History(ctx, wire.HistoryQuery{Limit: 1}); err != nil {
		w.t.Fatal(err)
	}
}

// TestRepliesReachProgramOnlyFromItsController: a dashboard's terminal
// answers (reply frames) reach the program only while that dashboard is
// the one that last typed into it.
func TestRepliesReachProgramOnlyFromItsController(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	a, b := watch(t, r), watch(t, r)
	startAgent(t, r, "sess", func(c *agent.Config) { c.Session = rawEchoSession })
	id := a.waitSession("sess").ID
	if err := a.cl.Subscribe(id, 0); err != nil {
		t.Fatal(err)
	}
	relaytest.Eventually(t, waitLong, "READY", func() bool { return strings.Contains(a.out(id), "READY") })

	step := func(w *watcher, send func(string, []byte) error, data string) {
		t.Helper()
		if err := send(id, []byte(data)); err != nil {
			t.Fatal(err)
		}
		w.barrier()
	}
	step(a, a.cl.Reply, "X") // nobody typed yet: no controller
	step(b, b.cl.Input, "a") // b types: b controls
	step(a, a.cl.Reply, "Q") // a watches
	step(b, b.cl.Reply, "R") // b's answer goes through
	step(b, b.cl.Input, "b")
	relaytest.Eventually(t, waitLong, "the last key", func() bool { return strings.HasSuffix(a.out(id), "b") })
	if got := strings.TrimPrefix(a.out(id), "READY"); got != "aRb" {
		t.Fatalf("the program read %q, want the keys and the controller's answer alone: %q", got, "aRb")
	}
	a.noErrors()
	b.noErrors()
}
