package cluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// TestClusterRunStreamType runs three relay binaries on one NATS and one
// PostgreSQL schema, with agents on two of them and dashboards on all
// three: each dashboard sees every agent and every command, in one order
// of events; a command started from one relay on an agent of another
// streams to dashboards everywhere, every byte once; keys typed on a third
// reach it; a dashboard resumes its output on another relay from where it
// stopped.
func TestClusterRunStreamType(t *testing.T) {
	s := newSystem(t, "")
	for _, id := range []string{"r1", "r2", "r3"} {
		s.relay(id)
	}
	s.agent("w1", "r1")
	s.agent("w2", "r2")
	d1, d2, d3 := s.dashboard("r1"), s.dashboard("r2"), s.dashboard("r3")
	for _, d := range []*client.Client{d1, d2, d3} {
		waitAgent(t, d, "w1", wire.AgentIdle)
		waitAgent(t, d, "w2", wire.AgentIdle)
	}

	// Started on r3, run by w1 on r1, watched from r2 and r3.
	spec, want := lines(400, "0.005")
	cmds, err := d3.Run(context.Background(), wire.Targets{Agents: []string{"w1"}}, spec)
	if err != nil {
		t.Fatal(err)
	}
	id := cmds[0].ID
	c2, c3 := follow(t, d2, id), follow(t, d3, id)
	c2.until("")
	c3.until("")
	if c2.got.String() != want || c3.got.String() != want {
		t.Fatalf("output differs: r2 %d bytes, r3 %d bytes, want %d", c2.got.Len(), c3.got.Len(), len(want))
	}
	for _, d := range []*client.Client{d1, d2, d3} {
		relaytest.Eventually(t, 10*time.Second, "the command exited everywhere", func() bool {
			return commandState(d, id) == wire.StateExited
		})
	}
	relaytest.Eventually(t, 10*time.Second, "the output stored", func() bool {
		return storedOutput(t, s.direct, id) == want
	})

	// Resumed on another relay from where a dashboard stopped.
	d1b := s.dashboard("r1")
	half := int64(len(want) / 2)
	cr := &collector{t: t, cl: d1b, id: id}
	cr.got.WriteString(want[:half])
	if err := d1b.Subscribe(id, half); err != nil {
		t.Fatal(err)
	}
	cr.until("")
	if cr.got.String() != want {
		t.Fatalf("resumed output differs: %d bytes, want %d", cr.got.Len(), len(want))
	}

	// Typed into from r1, run by w2 on r2.
	cmds, err = d1.Run(context.Background(), wire.Targets{Agents: []string{"w2"}},
		wire.CommandSpec{Shell: "read a; echo got:$a; read b; echo got:$b"})
	if err != nil {
		t.Fatal(err)
	}
	tid := cmds[0].ID
	ct := follow(t, d1, tid)
	relaytest.Eventually(t, 10*time.Second, "the typed-into command running", func() bool {
		return commandState(d1, tid) == wire.StateRunning
	})
	if err := d1.Input(tid, []byte("alpha\r")); err != nil {
		t.Fatal(err)
	}
	ct.until("got:alpha")
	if err := d3.Input(tid, []byte("beta\r")); err != nil { // from a third relay
		t.Fatal(err)
	}
	ct.until("")
	if !strings.Contains(ct.got.String(), "got:beta") {
		t.Fatalf("typed-into output: %q", ct.got.String())
	}

	// One order: the relays number events from the same log.
	relaytest.Eventually(t, 10*time.Second, "the same sequence number everywhere", func() bool {
		s1, s2, s3 := d1.State().Seq, d2.State().Seq, d3.State().Seq
		return s1 == s2 && s2 == s3 && s1 > 0
	})
}

// TestClusterQueue queues a command from one relay for an agent that is
// offline; the agent then connects to another relay, and runs it there,
// once.
func TestClusterQueue(t *testing.T) {
	s := newSystem(t, "")
	s.relay("q1")
	s.relay("q2")
	a := s.agent("late", "q1")
	d1 := s.dashboard("q1")
	waitAgent(t, d1, "late", wire.AgentIdle)
	a.Stop(15) // SIGTERM
	waitAgent(t, d1, "late", wire.AgentOffline)

	cmds, err := d1.Run(context.Background(), wire.Targets{Agents: []string{"late"}},
		wire.CommandSpec{Shell: "echo ran-once"})
	if err != nil {
		t.Fatal(err)
	}
	id := cmds[0].ID
	if cmds[0].State != wire.StateQueued {
		t.Fatalf("state %s, want queued", cmds[0].State)
	}
	s.agent("late", "q2")
	d2 := s.dashboard("q2")
	c := follow(t, d2, id)
	c.until("")
	if c.got.String() != "ran-once\r\n" {
		t.Fatalf("output %q", c.got.String())
	}
	relaytest.Eventually(t, 10*time.Second, "exited on both relays' dashboards", func() bool {
		return commandState(d1, id) == wire.StateExited && commandState(d2, id) == wire.StateExited
	})
	time.Sleep(time.Second) // a second run would show by now
	if got := storedOutput(t, s.direct, id); got != "ran-once\r\n" {
		t.Fatalf("stored output %q: ran more than once?", got)
	}
}
