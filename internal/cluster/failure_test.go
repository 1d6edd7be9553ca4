package cluster_test

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/pgtest"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// TestClusterRelayKilled kills, with SIGKILL, the relay an agent streams
// through while dashboards on two relays follow the output: the agent
// moves to another relay, which takes the command over from what the dead
// one stored; the dashboard on a third relay goes on, and the one whose
// relay died resumes on another from where it stopped. Every byte arrives
// once: the SHA-256 of what each dashboard got, and of what PostgreSQL
// holds, is that of the output.
func TestClusterRelayKilled(t *testing.T) {
	s := newSystem(t, "")
	k1 := s.relay("k1")
	s.relay("k2")
	s.relay("k3")
	s.agent("mover", "k1", "k2")
	d1, d3 := s.dashboard("k1"), s.dashboard("k3")
	waitAgent(t, d3, "mover", wire.AgentIdle)

	spec, want := lines(1500, "0.004")
	cmds, err := d3.Run(context.Background(), wire.Targets{Agents: []string{"mover"}}, spec)
	if err != nil {
		t.Fatal(err)
	}
	id := cmds[0].ID
	c1, c3 := follow(t, d1, id), follow(t, d3, id)
	c1.until("line 300\r\n")
	c3.until("line 300\r\n")
	k1.proc.Stop(syscall.SIGKILL)
	k1.proc.Exits(10 * time.Second)

	// The dashboard of the dead relay resumes on another, where it was.
	d2 := s.dashboard("k2")
	relaytest.Eventually(t, 20*time.Second, "the command known on k2", func() bool {
		_, ok := d2.State().Commands[id]
		return ok
	})
	c2 := &collector{t: t, cl: d2, id: id}
	c2.got.Write(c1.got.Bytes())
	if err := d2.Subscribe(id, int64(c1.got.Len())); err != nil {
		t.Fatal(err)
	}
	c2.until("")
	c3.until("")
	if sum(c2.got.String()) != sum(want) || sum(c3.got.String()) != sum(want) {
		t.Fatalf("output differs: resumed on k2 %d bytes, k3 %d bytes, want %d", c2.got.Len(), c3.got.Len(), len(want))
	}
	relaytest.Eventually(t, 20*time.Second, "the output stored whole", func() bool {
		return sum(storedOutput(t, s.direct, id)) == sum(want)
	})
	relaytest.Eventually(t, 20*time.Second, "the command exited, stored", func() bool {
		c, err := storedCommand(s.direct, id)
		return err == nil && c.State == wire.StateExited
	})
	if log := s.relays["k2"].proc.LogText(); !strings.Contains(log, "command taken over") {
		t.Fatalf("k2 never took the command over: the kill tested nothing\n%s", log)
	}
}

// TestClusterNATSRestart restarts NATS while a command on one relay's
// agent streams to a dashboard on another: the stream goes on where it
// was, every byte once, and events published meanwhile reach everyone.
func TestClusterNATSRestart(t *testing.T) {
	s := newSystem(t, "")
	s.relay("n1")
	s.relay("n2")
	s.agent("steady", "n1")
	d2 := s.dashboard("n2")
	waitAgent(t, d2, "steady", wire.AgentIdle)

	spec, want := lines(1200, "0.004")
	cmds, err := d2.Run(context.Background(), wire.Targets{Agents: []string{"steady"}}, spec)
	if err != nil {
		t.Fatal(err)
	}
	id := cmds[0].ID
	c := follow(t, d2, id)
	c.until("line 200\r\n")
	s.nats.Restart()
	c.until("")
	if sum(c.got.String()) != sum(want) {
		t.Fatalf("output differs: %d bytes, want %d", c.got.Len(), len(want))
	}
	relaytest.Eventually(t, 20*time.Second, "the command's end seen across the restart", func() bool {
		return commandState(d2, id) == wire.StateExited
	})
	relaytest.Eventually(t, 20*time.Second, "the output stored whole", func() bool {
		return sum(storedOutput(t, s.direct, id)) == sum(want)
	})
	for _, r := range []string{"n1", "n2"} {
		if log := s.relays[r].proc.LogText(); !strings.Contains(log, "cluster bus reconnected") {
			t.Fatalf("relay %s never lost NATS: the restart tested nothing\n%s", r, log)
		}
	}
}

// TestClusterPostgresRestart takes PostgreSQL away (every connection
// closed, new ones refused) and back while a command streams from an
// agent on one relay to a dashboard on another: streaming goes on live
// throughout, the owner's store batches fail and are retried, and once the
// server is back PostgreSQL holds every byte once.
func TestClusterPostgresRestart(t *testing.T) {
	direct := pgtest.URL(t)
	proxy, pg := pgtest.NewProxy(t, direct)
	s := newSystem(t, pg)
	s.direct = direct
	p1 := s.relay("p1")
	s.relay("p2")
	s.agent("writer", "p1")
	d2 := s.dashboard("p2")
	waitAgent(t, d2, "writer", wire.AgentIdle)

	spec, want := lines(1200, "0.004")
	cmds, err := d2.Run(context.Background(), wire.Targets{Agents: []string{"writer"}}, spec)
	if err != nil {
		t.Fatal(err)
	}
	id := cmds[0].ID
	c := follow(t, d2, id)
	c.until("line 100\r\n")
	proxy.Down()
	c.until("line 500\r\n") // live while the server is away
	relaytest.Eventually(t, 30*time.Second, "a store batch failing while the server is away", func() bool {
		return strings.Contains(p1.proc.LogText(), "store write failed")
	})
	proxy.Up()
	c.until("")
	if sum(c.got.String()) != sum(want) {
		t.Fatalf("output differs: %d bytes, want %d", c.got.Len(), len(want))
	}
	relaytest.Eventually(t, 30*time.Second, "the output stored whole", func() bool {
		return sum(storedOutput(t, direct, id)) == sum(want)
	})
	relaytest.Eventually(t, 30*time.Second, "the command exited, stored", func() bool {
		c, err := storedCommand(direct, id)
		return err == nil && c.State == wire.StateExited
	})
}

// TestClusterRelayGone kills a relay whose agent knows no other: the
// relay left (the first live one) publishes the agent offline within
// seconds, takes its running command over, and marks it lost after
// --lost-after, as one relay does for an agent that stays away.
func TestClusterRelayGone(t *testing.T) {
	s := newSystem(t, "")
	s.extra = []string{"--lost-after", "3s"}
	g1 := s.relay("g1")
	s.relay("g2")
	s.agent("lonely", "g1")
	d2 := s.dashboard("g2")
	waitAgent(t, d2, "lonely", wire.AgentIdle)
	cmds, err := d2.Run(context.Background(), wire.Targets{Agents: []string{"lonely"}}, wire.CommandSpec{Shell: "sleep 120"})
	if err != nil {
		t.Fatal(err)
	}
	id := cmds[0].ID
	relaytest.Eventually(t, 10*time.Second, "the command running", func() bool {
		return commandState(d2, id) == wire.StateRunning
	})
	g1.proc.Stop(syscall.SIGKILL)
	g1.proc.Exits(10 * time.Second)
	waitAgent(t, d2, "lonely", wire.AgentOffline)
	relaytest.Eventually(t, 20*time.Second, "the command lost", func() bool {
		return commandState(d2, id) == wire.StateLost
	})
	relaytest.Eventually(t, 10*time.Second, "the loss stored", func() bool {
		c, err := storedCommand(s.direct, id)
		return err == nil && c.State == wire.StateLost
	})
}
