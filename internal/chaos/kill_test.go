package chaos

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/proctest"
	"switchboard/internal/wire"
)

// job is one command of a scenario and the program it runs.
type job struct {
	id    string
	agent string
	p     producer
}

// TestRelayKilledUnderLoad is scenario 1: the relay is killed with
// SIGKILL, twice, while several agents stream output fast. Each time the
// database must open and check clean; after each restart every agent comes
// back, and in the end every command has finished and its output, at a
// dashboard that followed it throughout, at a dashboard that reads it
// afterwards, and in SQLite, is byte for byte what the program wrote.
func TestRelayKilledUnderLoad(t *testing.T) {
	noLeaks(t)
	addr, db := proctest.FreeAddr(t), filepath.Join(t.TempDir(), "sb.db")
	relay := startRelay(t, addr, db)
	idle := relay.idleUsage(t)

	const agents, perAgent = 3, 2
	var names []string
	var procs []*proc
	for i := range agents {
		name := fmt.Sprintf("load-%d", i)
		names = append(names, name)
		procs = append(procs, start(t, "agent", "--relay", relay.url(), "--name", name, "--state-dir", t.TempDir(), "--log-level", "warn"))
	}
	dash := follow(t, relay.url(), client.Config{})
	allOnline := func() bool {
		for _, n := range names {
			if !dash.online(n) {
				return false
			}
		}
		return true
	}
	waitFor(t, 30*time.Second, "agents online", allOnline)

	var jobs []job
	for i, name := range names {
		for j := range perAgent {
			p := newProducer(t, fmt.Sprintf("out-%d-%d", i, j))
			// 160 blocks of 16 KiB: 2.5 MiB a command, 15 MiB in all.
			c := dash.run(name, p.spec(160, 16<<10, 10*time.Millisecond))
			dash.subscribe(c.ID)
			jobs = append(jobs, job{id: c.ID, agent: name, p: p})
		}
	}
	received := func() int {
		n := 0
		for _, j := range jobs {
			n += dash.size(j.id)
		}
		return n
	}

	for kill := 1; kill <= 2; kill++ {
		mark := received()
		waitFor(t, 60*time.Second, "output flowing", func() bool { return received() >= mark+1<<20 })
		mark = received()
		relay.Stop(syscall.SIGKILL)
		killedAt := time.Now()
		integrity(t, db)
		relay = startRelay(t, addr, db)
		up := time.Since(killedAt)
		waitFor(t, 60*time.Second, "agents back after the restart", func() bool {
			return allOnline() && relay.metric("switchboard_agents_online") == agents
		})
		result(t, "kill %d at %.1f MiB received: database checked clean; relay serving %.2fs after the kill, all %d agents back %.2fs after it",
			kill, float64(mark)/(1<<20), up.Seconds(), agents, time.Since(killedAt).Seconds())
	}

	began := time.Now()
	var ids []string
	for _, j := range jobs {
		c := dash.waitEnd(j.id, 120*time.Second)
		if c.State != wire.StateExited || c.ExitCode == nil || *c.ExitCode != 0 {
			t.Errorf("command %s on %s: %s %v %s", j.id, j.agent, c.State, c.ExitCode, c.Reason)
		}
		if c.OutputBytes != j.p.size(t) || c.LostBytes != 0 {
			t.Errorf("command %s: output_bytes %d, lost %d; the program wrote %d", j.id, c.OutputBytes, c.LostBytes, j.p.size(t))
		}
		j.p.check(t, "following dashboard", dash.bytes(j.id))
		ids = append(ids, j.id)
	}
	if errs := dash.errors(); len(errs) > 0 {
		t.Errorf("following dashboard: %v", errs)
	}
	result(t, "all %d commands (%.1f MiB) finished %.1fs after the last restart; following dashboard made %d reconnect attempts",
		len(jobs), float64(received())/(1<<20), time.Since(began).Seconds(), dash.reconnected())

	late := followStrict(t, relay.url(), ids...)
	waitFor(t, 60*time.Second, "late dashboard to read every command", func() bool {
		for _, id := range ids {
			if !late.hasEnded(id) {
				return false
			}
		}
		return true
	})
	for _, j := range jobs {
		j.p.check(t, "late dashboard", late.bytes(j.id))
	}
	if errs := late.errors(); len(errs) > 0 {
		t.Errorf("late dashboard: %v", errs)
	}

	dash.close()
	late.close()
	for _, p := range procs {
		p.Stop(syscall.SIGTERM)
	}
	relay.checkNoLeaks(t, idle)
	relay.Stop(syscall.SIGTERM)
	integrity(t, db)
	stored := storedOutput(t, db, ids...)
	for _, j := range jobs {
		j.p.check(t, "SQLite", stored[j.id])
	}
}
