package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"switchboard/internal/client"
	"switchboard/internal/proctest"
	"switchboard/internal/recording"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// replayFixture is a relay and an agent, and a finished command on it.
type replayFixture struct {
	addr string
	cl   *client.Client
}

func newReplayFixture(t *testing.T) *replayFixture {
	t.Helper()
	addr := proctest.FreeAddr(t)
	startRelay(t, addr, filepath.Join(t.TempDir(), "sb.db"))
	start(t, "agent", "--relay", "ws://"+addr, "--name", "replay-box", "--state-dir", t.TempDir())
	cl, err := client.Dial(context.Background(), client.Config{Relay: "ws://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	waitIdle(t, cl, "replay-box")
	return &replayFixture{addr: addr, cl: cl}
}

// run runs shell on the agent until it ends, and returns its id, its
// output and its timeline.
func (f *replayFixture) run(t *testing.T, shell string) (string, string, *recording.Timeline) {
	t.Helper()
	cmds, err := f.cl.Run(context.Background(), wire.Targets{Agents: []string{"replay-box"}}, wire.CommandSpec{Shell: shell})
	if err != nil {
		t.Fatal(err)
	}
	id := cmds[0].ID
	relaytest.Eventually(t, 30*time.Second, "command ended", func() bool { return f.cl.State().Commands[id].State.Final() })
	logs, _, code := tui(t, f.addr, "logs", id)
	if code != 0 {
		t.Fatalf("logs: code %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events, err := f.cl.Timing(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	found, err := f.cl.History(ctx, wire.HistoryQuery{CommandID: id, Limit: 1})
	if err != nil || len(found) != 1 {
		t.Fatalf("history of %s: %v %v", id, found, err)
	}
	return id, logs, recording.TimelineOf(found[0], events)
}

// timedRead is when the bytes up to end had been read.
type timedRead struct {
	at  time.Time
	end int
}

// replayInPTY runs tui replay with args in a real terminal and returns
// what it wrote, when each read of it happened, and its exit code.
func replayInPTY(t *testing.T, addr string, args ...string) (string, []timedRead, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "tui"), append([]string{"replay"}, args...)...)
	cmd.Env = append(os.Environ(), "SWITCHBOARD_RELAY=ws://"+addr)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 80, Rows: 24})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var out []byte
	var reads []timedRead
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			if n > 0 {
				out = append(out, buf[:n]...)
				reads = append(reads, timedRead{time.Now(), len(out)})
			}
			if err != nil {
				return
			}
		}
	}()
	err = cmd.Wait()
	tty.Close()
	wg.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), reads, code
}

// readAt is when the output byte at off had been read.
func readAt(reads []timedRead, off int) time.Time {
	for _, r := range reads {
		if r.end > off {
			return r.at
		}
	}
	return time.Time{}
}

// replayTolerance is how late a write may be read on a busy machine.
const replayTolerance = 50 * time.Millisecond

// TestReplayTiming: tui replay writes a real command's output in a real
// terminal at its recorded times; with --speed and --idle-limit, at the
// times cut and scaled. Reads can only be late, never early, so the
// replay's start is taken as the earliest one that every read allows,
// and each write's lateness measured from it. A machine busy enough to
// hold a process back for longer than the tolerance fails a run; the
// test takes the best of three runs, which a player that drifts, plays
// early or ignores the speed or the limit fails every time. The figures
// are logged.
func TestReplayTiming(t *testing.T) {
	f := newReplayFixture(t)
	id, logs, tl := f.run(t, "echo one; sleep 0.2; echo two; sleep 0.4; echo three; sleep 1.2; echo four")
	// The idle limit has a pause to cut.
	if full := tl.TimeAt(int64(strings.Index(logs, "four"))) - tl.TimeAt(int64(strings.Index(logs, "three"))); full < 1100*time.Millisecond {
		t.Fatalf("recorded pause before four is %v", full)
	}
	for _, c := range []struct {
		speed float64
		idle  time.Duration
	}{{1, 0}, {2, 500 * time.Millisecond}} {
		var worst time.Duration
		for attempt := 1; attempt <= 3; attempt++ {
			out, reads, code := replayInPTY(t, f.addr, id, fmt.Sprintf("--speed=%g", c.speed), "--idle-limit", c.idle.String())
			if code != 0 || !strings.HasPrefix(out, logs) {
				t.Fatalf("replay at %gx: code %d, wrote %q, the command printed %q", c.speed, code, out, logs)
			}
			worst = replayLateness(t, logs, reads, tl.WithIdleLimit(c.idle), c.speed)
			t.Logf("speed %g idle %v, run %d: latest write %v after its time", c.speed, c.idle, attempt, worst)
			if worst <= replayTolerance {
				break
			}
		}
		if worst > replayTolerance {
			t.Errorf("speed %g idle %v: a write %v late in the best of three runs", c.speed, c.idle, worst)
		}
	}
}

// replayLateness is how late the latest of the markers one to four was
// read, against want's times divided by speed, from the replay's start
// estimated as the earliest that every read allows.
func replayLateness(t *testing.T, logs string, reads []timedRead, want *recording.Timeline, speed float64) time.Duration {
	t.Helper()
	var start time.Time
	type seen struct {
		at     time.Time
		expect time.Duration
	}
	var marks []seen
	for _, m := range []string{"one", "two", "three", "four"} {
		off := int64(strings.Index(logs, m))
		s := seen{readAt(reads, int(off)), time.Duration(float64(want.TimeAt(off)) / speed)}
		if s.at.IsZero() {
			t.Fatalf("%q never read", m)
		}
		if est := s.at.Add(-s.expect); start.IsZero() || est.Before(start) {
			start = est
		}
		marks = append(marks, s)
	}
	var worst time.Duration
	for _, s := range marks {
		worst = max(worst, s.at.Sub(start)-s.expect)
	}
	return worst
}

// TestReplayOutputAndErrors: replay to a file or pipe writes the stored
// bytes exactly (no terminal to restore); bad ids and arguments are
// refused with a clear message and an exit code.
func TestReplayOutputAndErrors(t *testing.T) {
	f := newReplayFixture(t)
	id, logs, _ := f.run(t, "printf 'a\\033[1mb\\033[0m\\n'; sleep 0.3; printf 'c\\n'")
	start := time.Now()
	out, stderr, code := tui(t, f.addr, "replay", "--speed", "1000", id)
	if code != 0 || out != logs {
		t.Fatalf("replay: code %d, %q, stderr %s; logs %q", code, out, stderr, logs)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("replay at 1000x took %v", took)
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{}, 2, "exactly one command id"},
		{[]string{id, "other"}, 2, "exactly one command id"},
		{[]string{"--speed", "0", id}, 2, "out of range"},
		{[]string{"--speed", "NaN", id}, 2, "out of range"},
		{[]string{"--speed", "fast", id}, 2, "invalid value"},
		{[]string{"--idle-limit", "-1s", id}, 2, "negative"},
		{[]string{"--idle-limit", "3", id}, 2, "invalid value"},
		{[]string{"c-nope"}, 1, `no command "c-nope"`},
	} {
		_, stderr, code := tui(t, f.addr, append([]string{"replay"}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("replay %v: code %d, %q; want %d, %q", c.args, code, stderr, c.code, c.msg)
		}
	}
}

// TestReplayInTmux: a user replays, in a real terminal under tmux, a
// command that took the alternate screen and hid the cursor, and stops
// it with ^C: the shell's screen, cursor and echo come back, and the
// exit code says it was interrupted; space pauses, q stops.
func TestReplayInTmux(t *testing.T) {
	f := newReplayFixture(t)
	id, _, _ := f.run(t, "printf '\\033[?1049h\\033[?25lALT SCREEN\\n'; sleep 8; printf 'later\\n'")
	tm := proctest.StartTmux(t, 80, 24, fmt.Sprintf("env SWITCHBOARD_RELAY=ws://%s PS1='$ ' sh", f.addr))
	tm.WaitText("$")
	tm.Text("echo before-replay; " + filepath.Join(bin, "tui") + " replay " + id)
	tm.Keys("Enter")
	tm.WaitText("ALT SCREEN")
	if got := tm.Run("display-message", "-p", "-t", "main", "#{alternate_on} #{cursor_flag}"); got != "1 0\n" {
		t.Fatalf("during the replay: alternate screen and cursor %q", got)
	}
	tm.Keys("C-c")
	// The shell's next prompt, not only the restored screen: keys typed
	// before it are echoed by the terminal on a line of their own.
	tm.WaitFor("the prompt after the replay", func(s string) bool {
		return strings.Contains(s, "before-replay\n$")
	})
	if got := tm.Run("display-message", "-p", "-t", "main", "#{alternate_on} #{cursor_flag}"); got != "0 1\n" {
		t.Errorf("after ^C: alternate screen and cursor %q, want both restored", got)
	}
	tm.Text(`echo "rc=$?"`)
	tm.Keys("Enter")
	scr := tm.WaitText("rc=130")
	if !strings.Contains(scr, `$ echo "rc=$?"`) {
		t.Errorf("typed text not echoed after the replay:\n%s", scr)
	}
	if strings.Contains(scr, "later") {
		t.Errorf("the replay went on after ^C:\n%s", scr)
	}

	// Space pauses: the replay, whose pause is cut to 3 s, does not end
	// while paused; space again plays it to its end.
	tm.Text("clear; " + filepath.Join(bin, "tui") + " replay --idle-limit 3s " + id + `; echo "rc=$?"`)
	tm.Keys("Enter")
	tm.WaitText("ALT SCREEN")
	tm.Keys("Space")
	time.Sleep(4 * time.Second)
	if scr := tm.Screen(); strings.Contains(scr, "rc=") {
		t.Fatalf("the replay ended while paused:\n%s", scr)
	}
	tm.Keys("Space")
	tm.WaitText("rc=0")

	// q stops at once, well before the recording's 8 s pause is over.
	tm.Text("clear; " + filepath.Join(bin, "tui") + " replay " + id + `; echo "rc=$?"`)
	tm.Keys("Enter")
	tm.WaitText("ALT SCREEN")
	shown := time.Now()
	tm.Keys("q")
	tm.WaitText("rc=0")
	if took := time.Since(shown); took >= 6*time.Second {
		t.Errorf("q took %v to stop the replay", took)
	}
}
