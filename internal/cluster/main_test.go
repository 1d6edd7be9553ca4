package cluster_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/natstest"
	"switchboard/internal/pgtest"
	"switchboard/internal/proctest"
	"switchboard/internal/relaytest"
	"switchboard/internal/store"
	"switchboard/internal/store/postgres"
	"switchboard/internal/wire"
)

// bin holds the built binaries.
var bin string

func TestMain(m *testing.M) {
	dir, err := proctest.Build("relay", "agent")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// system is a cluster for one test: NATS with JetStream of its own, a
// PostgreSQL schema of its own, and relay binaries joined by them.
type system struct {
	t      *testing.T
	nats   *natstest.Server
	pg     string // what relays are given: maybe through a proxy
	direct string // the schema, straight
	relays map[string]*relayProc
	states map[string]string // agents' state directories, by name: an agent keeps its id
	extra  []string          // more flags for every relay
}

type relayProc struct {
	id, addr string
	proc     *proctest.Proc
}

func newSystem(t *testing.T, pg string) *system {
	s := &system{t: t, nats: natstest.Start(t), pg: pg, direct: pg, relays: make(map[string]*relayProc), states: make(map[string]string)}
	if pg == "" {
		s.pg = pgtest.URL(t)
		s.direct = s.pg
	}
	return s
}

// relay starts relay id (at a new address the first time, the same one
// after) and waits until it serves.
func (s *system) relay(id string) *relayProc {
	t := s.t
	t.Helper()
	r := s.relays[id]
	if r == nil {
		r = &relayProc{id: id, addr: proctest.FreeAddr(t)}
		s.relays[id] = r
	}
	args := []string{"--addr", r.addr, "--store", s.pg, "--insecure-no-auth",
		"--cluster", s.nats.URL(), "--relay-id", id, "--log-level", "info", "--agent-timeout", "3s"}
	r.proc = proctest.Start(t, bin, "relay", nil, append(args, s.extra...)...)
	relaytest.Eventually(t, 20*time.Second, "relay "+id+" /healthz", func() bool {
		resp, err := http.Get("http://" + r.addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return r
}

// agent starts an agent on the relays named, in that order (the same
// agent, with the same id, as before if there was one of that name).
func (s *system) agent(name string, relays ...string) *proctest.Proc {
	if s.states[name] == "" {
		s.states[name] = s.t.TempDir()
	}
	urls := make([]string, len(relays))
	for i, id := range relays {
		urls[i] = "ws://" + s.relays[id].addr
	}
	return proctest.Start(s.t, bin, "agent", nil, "--relay", strings.Join(urls, ","), "--name", name,
		"--state-dir", s.states[name], "--log-level", "info")
}

// dashboard connects a dashboard client to relay id.
func (s *system) dashboard(id string) *client.Client {
	s.t.Helper()
	cl, err := client.Dial(context.Background(), client.Config{Relay: "ws://" + s.relays[id].addr, Client: "dash@" + id,
		EventBuffer: 1 << 16})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { cl.Close() })
	return cl
}

// waitAgent waits until cl sees the agent named name in status.
func waitAgent(t *testing.T, cl *client.Client, name string, status wire.AgentStatus) {
	t.Helper()
	relaytest.Eventually(t, 20*time.Second, name+" "+string(status), func() bool {
		for _, a := range cl.State().Agents {
			if a.Name == name && a.Status == status {
				return true
			}
		}
		return false
	})
}

// lines is a shell loop printing "line 1" to "line n", pause seconds
// apart, and what a terminal shows of it.
func lines(n int, pause string) (wire.CommandSpec, string) {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d\r\n", i)
	}
	return wire.CommandSpec{Shell: fmt.Sprintf("i=1; while [ $i -le %d ]; do echo line $i; i=$((i+1)); sleep %s; done", n, pause)}, b.String()
}

// collector gathers one command's output from a client's events, failing
// the test on any byte out of place.
type collector struct {
	t   *testing.T
	cl  *client.Client
	id  string
	got bytes.Buffer
	end bool
}

// until reads events until the output holds want (or, with want empty,
// until the output ends).
func (c *collector) until(want string) {
	c.t.Helper()
	deadline := time.After(60 * time.Second)
	for !c.end && (want == "" || !strings.Contains(c.got.String(), want)) {
		select {
		case ev := <-c.cl.Events():
			switch ev := ev.(type) {
			case client.Output:
				if ev.CommandID != c.id {
					continue
				}
				if ev.Offset != int64(c.got.Len()) {
					c.t.Fatalf("output at offset %d, have %d", ev.Offset, c.got.Len())
				}
				c.got.Write(ev.Data)
			case client.OutputEnd:
				if ev.CommandID == c.id {
					c.end = true
				}
			}
		case <-deadline:
			c.t.Fatalf("timed out waiting for %q; have %d bytes: %q", want, c.got.Len(), tail(c.got.String()))
		}
	}
}

func tail(s string) string {
	if len(s) > 200 {
		return s[len(s)-200:]
	}
	return s
}

func sum(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }

// storedOutput reads a command's whole output from PostgreSQL.
func storedOutput(t *testing.T, pg, id string) string {
	t.Helper()
	st, err := postgres.Open(context.Background(), pg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []byte
	for {
		data, start, err := st.ReadOutput(context.Background(), id, int64(len(out)), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			return string(out)
		}
		if start != int64(len(out)) {
			t.Fatalf("stored output of %s has a gap at %d (next row at %d)", id, len(out), start)
		}
		out = append(out, data...)
	}
}

// storedCommand reads a command's row from PostgreSQL.
func storedCommand(pg, id string) (wire.Command, error) {
	st, err := postgres.Open(context.Background(), pg)
	if err != nil {
		return wire.Command{}, err
	}
	defer st.Close()
	cmds, err := st.History(context.Background(), store.HistoryQuery{ID: id, Limit: 1})
	if err != nil || len(cmds) == 0 {
		return wire.Command{}, fmt.Errorf("command %s: %v", id, err)
	}
	return cmds[0], nil
}

// commandState returns the command's state as cl sees it.
func commandState(cl *client.Client, id string) wire.CommandState {
	return cl.State().Commands[id].State
}

// follow subscribes a collector on cl to command id from offset 0, once
// cl's relay has heard of the command: a dashboard learns of commands
// from its relay's events.
func follow(t *testing.T, cl *client.Client, id string) *collector {
	t.Helper()
	relaytest.Eventually(t, 10*time.Second, "the command known to the dashboard", func() bool {
		_, ok := cl.State().Commands[id]
		return ok
	})
	if err := cl.Subscribe(id, 0); err != nil {
		t.Fatal(err)
	}
	return &collector{t: t, cl: cl, id: id}
}
