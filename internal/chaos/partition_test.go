package chaos

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/proctest"
	"switchboard/internal/wire"
)

// TestAgentNetworkCut is scenario 2: the network between an agent and the
// relay dies without a close while the agent streams. The relay must show
// the agent offline within --agent-timeout; when the network returns, the
// agent reconnects by itself and the output it buffered meanwhile arrives,
// none of it twice (a strict dashboard, connected throughout, sees every
// frame in order with no overlap).
func TestAgentNetworkCut(t *testing.T) {
	noLeaks(t)
	const agentTimeout = 2 * time.Second
	addr, db := proctest.FreeAddr(t), filepath.Join(t.TempDir(), "sb.db")
	relay := startRelay(t, addr, db, "--agent-timeout", agentTimeout.String(), "--lost-after", "1m")
	idle := relay.idleUsage(t)
	net := startProxy(t, addr)
	ag := start(t, "agent", "--relay", "ws://"+net.addr(), "--name", "remote", "--state-dir", t.TempDir(), "--log-level", "warn")
	dash := follow(t, relay.url(), client.Config{})
	waitFor(t, 30*time.Second, "agent online", func() bool { return dash.online("remote") })

	// About 100 blocks of 4 KiB over 8 s: output keeps coming throughout.
	p := newProducer(t, "out")
	c := dash.run("remote", p.spec(100, 4<<10, 80*time.Millisecond))
	dash.subscribe(c.ID)
	watcher := followStrict(t, relay.url(), c.ID)
	waitFor(t, 30*time.Second, "output flowing", func() bool { return dash.size(c.ID) >= 32<<10 })

	net.cutNetwork()
	cutAt := time.Now()
	before := dash.size(c.ID)
	waitFor(t, agentTimeout+10*time.Second, "agent offline", func() bool { return dash.status("remote") == wire.AgentOffline })
	offline := time.Since(cutAt)
	if offline > agentTimeout+3*time.Second {
		t.Errorf("agent offline %.2fs after the cut; --agent-timeout is %s", offline.Seconds(), agentTimeout)
	}
	time.Sleep(time.Second) // the agent's command keeps writing into its buffer
	if got := dash.command(c.ID).State; got != wire.StateRunning {
		t.Errorf("command %s during the cut; want running (lost only after --lost-after)", got)
	}
	net.heal()
	healedAt := time.Now()
	waitFor(t, 30*time.Second, "agent back", func() bool { return dash.online("remote") })
	back := time.Since(healedAt)
	final := dash.waitEnd(c.ID, 60*time.Second)
	result(t, "offline %.2fs after the cut (--agent-timeout %s); %.0f KiB had arrived before it; agent back %.2fs after the network returned; command ended %s with %d bytes",
		offline.Seconds(), agentTimeout, float64(before)/1024, back.Seconds(), final.State, final.OutputBytes)

	if final.State != wire.StateExited || final.LostBytes != 0 || final.OutputBytes != p.size(t) {
		t.Errorf("command %s, exit %v, output_bytes %d, lost %d; the program wrote %d", final.State, final.ExitCode, final.OutputBytes, final.LostBytes, p.size(t))
	}
	p.check(t, "following dashboard", dash.bytes(c.ID))
	waitFor(t, 10*time.Second, "strict dashboard at the end", func() bool { return watcher.hasEnded(c.ID) })
	p.check(t, "strict dashboard", watcher.bytes(c.ID))
	if errs := append(dash.errors(), watcher.errors()...); len(errs) > 0 {
		t.Errorf("dashboards saw: %v", errs)
	}

	dash.close()
	watcher.close()
	ag.Stop(syscall.SIGTERM)
	net.close()
	relay.checkNoLeaks(t, idle)
	relay.Stop(syscall.SIGTERM)
	p.check(t, "SQLite", storedOutput(t, db, c.ID)[c.ID])
}
