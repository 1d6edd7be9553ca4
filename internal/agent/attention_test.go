package agent

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"switchboard/internal/wire"
)

// attentionUntil reads the agent's messages until command id reports
// state want, and returns every attention report of id on the way.
func (p *peer) attentionUntil(t *testing.T, id string, want wire.Attention) []wire.AttentionReport {
	t.Helper()
	var seen []wire.AttentionReport
	deadline := time.Now().Add(20 * time.Second)
	p.until(t, func(r received) bool {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within 20 s; attention seen: %+v", want, seen)
		}
		if m, ok := r.msg.(*wire.AttentionReport); ok && m.CommandID == id {
			seen = append(seen, *m)
			return m.State == want
		}
		if m, ok := r.msg.(*wire.Exited); ok && m.CommandID == id {
			t.Fatalf("command ended (%+v) before it was %s; attention seen: %+v", m, want, seen)
		}
		return false
	})
	return seen
}

// untilExit reads until command id's exited message.
func (p *peer) untilExit(t *testing.T, id string) *wire.Exited {
	t.Helper()
	var ex *wire.Exited
	p.until(t, func(r received) bool {
		ex, _ = r.msg.(*wire.Exited)
		return ex != nil && ex.CommandID == id
	})
	return ex
}

// attentionFor collects command id's attention reports for d. The agent's
// heartbeats (every 50 ms here) keep messages coming.
func (p *peer) attentionFor(t *testing.T, id string, d time.Duration) []wire.AttentionReport {
	t.Helper()
	var seen []wire.AttentionReport
	for end := time.Now().Add(d); time.Now().Before(end); {
		if a, ok := p.next(t).msg.(*wire.AttentionReport); ok && a.CommandID == id {
			seen = append(seen, *a)
		}
	}
	return seen
}

func quickQuiet(c *Config) { c.QuietAfter = time.Second }

func needLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the process-state probe reads /proc (Linux only)")
	}
}

func needProgram(t *testing.T, name string) {
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("this test needs %s: %v", name, err)
	}
}

func TestPromptsAreWaitingWithTheirLine(t *testing.T) {
	needLinux(t)
	needProgram(t, "python3")
	for _, tt := range []struct {
		name, shell, reason string
	}{
		{"bash read -p", `bash -c 'read -p "Name? " x; echo "hi $x"'`, "Name?"},
		{"python input", `python3 -c 'print("hi"); x = input("Proceed? [y/N] "); print("got", x)'`, "Proceed? [y/N]"},
		{"sh running python", `echo start; python3 -c 'input("Q? ")'; echo done`, "Q?"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			relay := newTestRelay(t)
			runTestAgent(t, relay, quickQuiet)
			p := relay.accept(t)
			p.expectHello(t)
			p.welcome(t)
			p.send(t, startMsg("c-1", wire.CommandSpec{Shell: tt.shell}))
			seen := p.attentionUntil(t, "c-1", wire.AttentionWaiting)
			if got := seen[len(seen)-1].Reason; got != tt.reason {
				t.Fatalf("waiting with reason %q, want %q", got, tt.reason)
			}
			// The answer is typed: echoed while the program still waits,
			// then it goes on and ends.
			p.sendInput(t, "c-1", []byte("bob\r"))
			if ex := p.untilExit(t, "c-1"); ex.State != wire.StateExited || derefOr(ex.ExitCode, -1) != 0 {
				t.Fatalf("exited %+v", ex)
			}
		})
	}
}

func TestSilentProgramsAreQuietNeverWaiting(t *testing.T) {
	needLinux(t)
	for _, tt := range []struct{ name, shell string }{
		{"sleep", "sleep 20"},
		{"cpu loop", "while :; do :; done"},
		{"reading a pipe", "sleep 30 | cat"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			relay := newTestRelay(t)
			runTestAgent(t, relay, quickQuiet)
			p := relay.accept(t)
			p.expectHello(t)
			p.welcome(t)
			p.send(t, startMsg("c-1", wire.CommandSpec{Shell: tt.shell}))
			seen := p.attentionFor(t, "c-1", 3*time.Second)
			quiet := false
			for _, a := range seen {
				if a.State == wire.AttentionWaiting || a.State == wire.AttentionIdle {
					t.Fatalf("%s reported %s (%q)", tt.shell, a.State, a.Reason)
				}
				quiet = quiet || a.State == wire.AttentionQuiet
			}
			if !quiet {
				t.Fatalf("never quiet after 3 s of silence: %+v", seen)
			}
		})
	}
}

func TestInteractiveShellAtItsPromptIsIdle(t *testing.T) {
	needLinux(t)
	relay := newTestRelay(t)
	runTestAgent(t, relay, quickQuiet)
	p := relay.accept(t)
	p.expectHello(t)
	p.welcome(t)
	p.send(t, startMsg("c-1", wire.CommandSpec{Argv: []string{"bash", "--norc", "-i"}}))
	p.attentionUntil(t, "c-1", wire.AttentionIdle)
	// A program it runs that asks is waiting; back at the prompt, idle.
	p.sendInput(t, "c-1", []byte("read -p 'Sure? ' x\r"))
	if seen := p.attentionUntil(t, "c-1", wire.AttentionWaiting); seen[len(seen)-1].Reason != "Sure?" {
		t.Fatalf("waiting for %q", seen[len(seen)-1].Reason)
	}
	p.sendInput(t, "c-1", []byte("y\r"))
	p.attentionUntil(t, "c-1", wire.AttentionIdle)
	p.sendInput(t, "c-1", []byte("exit\r"))
	p.untilExit(t, "c-1")
}

func TestTerminalNotificationsAndTitles(t *testing.T) {
	relay := newTestRelay(t)
	runTestAgent(t, relay, quickQuiet)
	p := relay.accept(t)
	p.expectHello(t)
	p.welcome(t)
	// An OSC 9 notification, then the program waits in a way the probe
	// cannot see (sleep): only the notification says it waits.
	p.send(t, startMsg("c-1", wire.CommandSpec{Shell: `printf '\033]2;deploy\007\033]9;Deploy to prod?\007'; sleep 30`}))
	seen := p.attentionUntil(t, "c-1", wire.AttentionWaiting)
	last := seen[len(seen)-1]
	if last.Reason != "Deploy to prod?" {
		t.Fatalf("waiting with reason %q", last.Reason)
	}
	titled := false
	for _, a := range append(seen, p.attentionFor(t, "c-1", 1500*time.Millisecond)...) {
		titled = titled || a.Title == "deploy"
	}
	if !titled {
		t.Fatal("the window title was never reported")
	}
	// Typing answers it: no longer waiting.
	p.sendInput(t, "c-1", []byte("\r"))
	p.attentionUntil(t, "c-1", wire.AttentionWorking)
}

func TestBellAnsweringAKeyIsNotACall(t *testing.T) {
	relay := newTestRelay(t)
	runTestAgent(t, relay, quickQuiet)
	p := relay.accept(t)
	p.expectHello(t)
	p.welcome(t)
	// The program waits for a key and rings the bell at once when it
	// gets one, like a shell's tab completion that found nothing; later
	// it rings by itself.
	p.send(t, startMsg("c-1", wire.CommandSpec{Shell: `stty raw -echo; dd bs=1 count=1 2>/dev/null; printf '\a'; sleep 2; printf 'done?\a'; sleep 30`}))
	p.attentionUntil(t, "c-1", wire.AttentionWaiting) // dd reads the terminal
	p.sendInput(t, "c-1", []byte("\t"))
	answered := p.attentionFor(t, "c-1", 1500*time.Millisecond)
	for _, a := range answered {
		if a.Reason == "bell" {
			t.Fatalf("a bell answering a key was taken for a call: %+v", answered)
		}
	}
	if len(answered) == 0 || answered[0].State != wire.AttentionWorking {
		t.Fatalf("after the key: %+v, want working first", answered)
	}
	if seen := p.attentionUntil(t, "c-1", wire.AttentionWaiting); seen[len(seen)-1].Reason != "bell" {
		t.Fatalf("waiting for %q, want bell", seen[len(seen)-1].Reason)
	}
}

// The environment the agent gives a command lets `agent notify` inside it
// report the command's state; a wrong key is refused.
func TestNotifyFromInsideACommand(t *testing.T) {
	relay := newTestRelay(t)
	runTestAgent(t, relay, quickQuiet)
	p := relay.accept(t)
	p.expectHello(t)
	p.welcome(t)
	p.send(t, startMsg("c-1", wire.CommandSpec{Shell: `printf '%s %s %s\n' "$` + EnvNotifySocket + `" "$` + EnvCommandID + `" "$` + EnvCommandKey + `"; sleep 30`}))
	var line string
	p.until(t, func(r received) bool {
		if r.frame != nil {
			line += string(r.frame.Data)
		}
		return strings.Contains(line, "\n")
	})
	f := strings.Fields(line)
	if len(f) != 3 || f[1] != "c-1" {
		t.Fatalf("the command's environment says %q", line)
	}
	env := map[string]string{EnvNotifySocket: f[0], EnvCommandID: f[1], EnvCommandKey: f[2]}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	notify := func(st wire.Attention, msg string) error {
		return Notify(ctx, func(k string) string { return env[k] }, st, msg)
	}

	if err := notify(wire.AttentionWaiting, "Allow edit of main.go?"); err != nil {
		t.Fatal(err)
	}
	if seen := p.attentionUntil(t, "c-1", wire.AttentionWaiting); seen[len(seen)-1].Reason != "Allow edit of main.go?" {
		t.Fatalf("reason %q", seen[len(seen)-1].Reason)
	}
	if err := notify(wire.AttentionWorking, ""); err != nil {
		t.Fatal(err)
	}
	p.attentionUntil(t, "c-1", wire.AttentionWorking)
	// Declared working outlasts silence: no quiet while the CLI says it works.
	for _, a := range p.attentionFor(t, "c-1", 2*time.Second) {
		t.Fatalf("declared working, then reported %+v", a)
	}
	if err := notify(wire.AttentionIdle, ""); err != nil {
		t.Fatal(err)
	}
	p.attentionUntil(t, "c-1", wire.AttentionIdle)

	env[EnvCommandKey] = strings.Repeat("0", 32)
	if err := notify(wire.AttentionWaiting, "spoofed"); err == nil || !strings.Contains(err.Error(), "key") {
		t.Fatalf("a wrong key was not refused: %v", err)
	}
	if err := notify("asleep", ""); err == nil {
		t.Fatal("an unknown state was not refused")
	}
	if err := Notify(ctx, func(string) string { return "" }, wire.AttentionIdle, ""); err != ErrNotInCommand {
		t.Fatalf("outside a command: %v", err)
	}
}

func TestHookState(t *testing.T) {
	tests := []struct {
		in      string
		st      wire.Attention
		message string
		ok      bool
	}{
		{`{"hook_event_name":"Notification","notification_type":"permission_prompt","message":"Claude needs your permission to use Bash"}`,
			wire.AttentionWaiting, "Claude needs your permission to use Bash", true},
		{`{"hook_event_name":"Notification","notification_type":"idle_prompt","message":"Claude is waiting for your input"}`,
			wire.AttentionWaiting, "Claude is waiting for your input", true},
		{`{"hook_event_name":"Notification","message":"older versions say no type"}`, wire.AttentionWaiting, "older versions say no type", true},
		{`{"hook_event_name":"Notification","notification_type":"auth_success","message":"ok"}`, "", "", false},
		{`{"hook_event_name":"UserPromptSubmit","prompt":"fix it"}`, wire.AttentionWorking, "", true},
		{`{"hook_event_name":"PreToolUse","tool_name":"Bash"}`, wire.AttentionWorking, "", true},
		{`{"hook_event_name":"PostToolUse","tool_name":"Bash"}`, wire.AttentionWorking, "", true},
		{`{"hook_event_name":"Stop","stop_hook_active":false}`, wire.AttentionIdle, "", true},
		{`{"hook_event_name":"SubagentStop"}`, "", "", false},
		{`{"type":"agent-turn-complete","last-assistant-message":"Done."}`, wire.AttentionIdle, "Done.", true},
		{`{"something":"else"}`, "", "", false},
	}
	for _, tt := range tests {
		st, msg, ok, err := HookState([]byte(tt.in))
		if err != nil || st != tt.st || msg != tt.message || ok != tt.ok {
			t.Errorf("HookState(%s) = %q %q %v %v", tt.in, st, msg, ok, err)
		}
	}
	if _, _, _, err := HookState([]byte("not json")); err == nil {
		t.Error("bad JSON was accepted")
	}
}

func TestDecideRanksSignals(t *testing.T) {
	t0 := time.Unix(1000, 0)
	quiet := 5 * time.Second
	at := newAttention(t0)
	check := func(now time.Time, want wire.Attention, reason string) {
		t.Helper()
		at.decide(now, quiet)
		if at.state != want || at.reason != reason {
			t.Fatalf("at %s: %s %q, want %s %q", now.Sub(t0), at.state, at.reason, want, reason)
		}
	}
	check(t0.Add(time.Second), wire.AttentionWorking, "")
	check(t0.Add(6*time.Second), wire.AttentionQuiet, "")
	if !at.since.Equal(t0) {
		t.Fatalf("quiet since %s, want the last output", at.since)
	}
	at.probe, at.probeReason = probeWaiting, "Name?"
	check(t0.Add(7*time.Second), wire.AttentionWaiting, "Name?")
	at.hook(wire.AttentionWorking, "")
	check(t0.Add(8*time.Second), wire.AttentionWaiting, "Name?") // the process blocked on a read outranks "working"
	at.probe = probeBusy
	check(t0.Add(9*time.Second), wire.AttentionWorking, "")
	at.hook(wire.AttentionIdle, "")
	at.probe = probeWaiting
	check(t0.Add(10*time.Second), wire.AttentionIdle, "") // the CLI says it is idle: its prompt is not a question
	at.scanned(&scanResult{notified: true, notice: "Deploy?"}, t0.Add(11*time.Second))
	check(t0.Add(11*time.Second), wire.AttentionWaiting, "Deploy?")
	at.input(t0.Add(12 * time.Second))
	at.probe = probeBusy
	at.lastOutput = t0.Add(12 * time.Second)
	check(t0.Add(12*time.Second), wire.AttentionWorking, "")
	v := at.version
	check(t0.Add(13*time.Second), wire.AttentionWorking, "")
	if at.version != v {
		t.Fatal("an unchanged decision counted as a change")
	}
}

func ExampleHookState() {
	st, msg, ok, _ := HookState([]byte(`{"hook_event_name":"Notification","notification_type":"permission_prompt","message":"Allow Bash?"}`))
	fmt.Println(st, msg, ok)
	// Output: waiting Allow Bash? true
}
