package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/internal/wire"
)

// A command the allow list does not cover is rejected before anything
// runs: no process, no started message, no output, and a reason.
func TestAllowListRejectsBeforeStarting(t *testing.T) {
	relay := newTestRelay(t)
	runTestAgent(t, relay, func(c *Config) { c.Allow = []string{"echo *", "true"} })
	p := relay.accept(t)
	p.expectHello(t)
	p.welcome(t)

	marker := filepath.Join(t.TempDir(), "ran")
	p.send(t, startMsg("c-no", wire.CommandSpec{Shell: "touch " + marker}))
	s := p.follow(t, "c-no", 0)
	want := `not allowed on this agent: "touch ` + marker + `" matches no --allow pattern`
	if s.exited.State != wire.StateRejected || s.exited.Reason != want || s.started != 0 || len(s.out) != 0 || s.exited.Offset != 0 {
		t.Fatalf("exited %+v, %d started, output %q; want rejected with %q", s.exited, s.started, s.out, want)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the rejected command ran: %v", err)
	}

	p.send(t, startMsg("c-chain", wire.CommandSpec{Shell: "echo hi; touch " + marker}))
	if s := p.follow(t, "c-chain", 0); s.exited.State != wire.StateRejected || !strings.Contains(s.exited.Reason, "in a shell command") {
		t.Fatalf("chained shell command: exited %+v", s.exited)
	}

	p.send(t, startMsg("c-yes", wire.CommandSpec{Argv: []string{"echo", "allowed", "/and/slashed"}}))
	if s := p.follow(t, "c-yes", 0); s.exited.State != wire.StateExited || string(s.out) != "allowed /and/slashed\r\n" || s.started != 1 {
		t.Fatalf("allowed command: exited %+v, output %q", s.exited, s.out)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("a rejected command ran: %v", err)
	}
}

// The session is the operator's own: --allow does not apply to it.
func TestAllowListDoesNotApplyToTheSession(t *testing.T) {
	relay := newTestRelay(t)
	runTestAgent(t, relay, func(c *Config) {
		c.Allow = []string{"true"}
		c.Session = []string{"sh", "-c", "echo session ran; exec cat"}
	})
	p := relay.accept(t)
	id := p.expectHello(t).Holding[0].CommandID
	p.welcome(t)
	var out []byte
	p.until(t, func(r received) bool {
		if e, ok := r.msg.(*wire.Exited); ok && e.CommandID == id {
			t.Fatalf("session ended: %+v", e)
		}
		if r.frame != nil && r.frame.CommandID == id {
			out = append(out, r.frame.Data...)
		}
		return string(out) == "session ran\r\n"
	})
}

// With NoInput the agent says so in hello, drops input to commands and
// the session, answers it with one error a second per command, and still
// resizes.
func TestNoInputRefusesInputButResizes(t *testing.T) {
	relay := newTestRelay(t)
	_, logs, _ := runTestAgent(t, relay, func(c *Config) {
		c.NoInput = true
		c.Session = []string{"cat"}
	})
	p := relay.accept(t)
	h := p.expectHello(t)
	if !h.Agent.NoInput {
		t.Fatalf("hello agent %+v, want no_input", h.Agent)
	}
	session := h.Holding[0].CommandID
	p.welcome(t)

	flag := filepath.Join(t.TempDir(), "go")
	p.send(t, startMsg("c-1", wire.CommandSpec{Shell: "while [ ! -e " + flag + " ]; do sleep 0.02; done; stty size"}))
	p.until(t, func(r received) bool { m, ok := r.msg.(*wire.Started); return ok && m.CommandID == "c-1" })
	p.send(t, &wire.Resize{CommandID: "c-1", Cols: 90, Rows: 33})
	for range 3 {
		p.sendInput(t, "c-1", []byte("typed\r"))
	}
	p.sendInput(t, session, []byte("to the session\r"))

	errs := map[string]*wire.Error{}
	p.until(t, func(r received) bool {
		if e, ok := r.msg.(*wire.Error); ok {
			errs[e.CommandID] = e
		}
		return len(errs) == 2
	})
	want := "agent test-agent does not accept input (--no-input)"
	for _, id := range []string{"c-1", session} {
		if e := errs[id]; e == nil || e.Code != wire.CodeForbidden || e.Message != want {
			t.Errorf("error for %s: %+v, want %s %q", id, e, wire.CodeForbidden, want)
		}
	}

	// The agent handles messages in order: the resize is done, the input
	// refused. Let the command finish and look at its terminal.
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	seen := p.until(t, func(r received) bool { m, ok := r.msg.(*wire.Exited); return ok && m.CommandID == "c-1" })
	seen = append(seen, p.until(t, func(r received) bool { _, ok := r.msg.(*wire.Heartbeat); return ok })...)
	var out []byte
	more := 0
	for _, r := range seen {
		if r.frame != nil && r.frame.CommandID == "c-1" {
			out = append(out, r.frame.Data...)
		}
		if e, ok := r.msg.(*wire.Error); ok && e.CommandID == "c-1" {
			more++
		}
	}
	if string(out) != "33 90\r\n" {
		t.Fatalf("output %q, want only the new size: input must not reach the terminal", out)
	}
	if more != 0 {
		t.Errorf("%d more errors for c-1: three keystrokes in a row must get one", more)
	}
	if !strings.Contains(logs.String(), "refused input") {
		t.Error("the agent did not log the refused input")
	}
}

// Input for a command the agent does not hold is refused the same way:
// what matters is that this agent takes no input at all.
func TestNoInputRefusesInputForUnknownCommands(t *testing.T) {
	relay := newTestRelay(t)
	runTestAgent(t, relay, func(c *Config) { c.NoInput = true })
	p := relay.accept(t)
	p.expectHello(t)
	p.welcome(t)
	p.sendInput(t, "c-gone", []byte("x"))
	seen := p.until(t, func(r received) bool { _, ok := r.msg.(*wire.Error); return ok })
	if e := seen[len(seen)-1].msg.(*wire.Error); e.CommandID != "c-gone" || e.Code != wire.CodeForbidden {
		t.Fatalf("error %+v", e)
	}
}

func TestNoInputOffByDefault(t *testing.T) {
	relay := newTestRelay(t)
	runTestAgent(t, relay, nil)
	p := relay.accept(t)
	if h := p.expectHello(t); h.Agent.NoInput {
		t.Fatal("hello says no_input without NoInput")
	}
}
