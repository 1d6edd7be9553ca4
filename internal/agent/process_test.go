package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/wire"
)

// runningProc is a process under test with its output collected.
type runningProc struct {
	p    *process
	out  syncBuffer
	done chan result
	once sync.Once
	res  result
}

func startTest(t *testing.T, spec wire.CommandSpec, grace time.Duration) *runningProc {
	t.Helper()
	p, err := startProcess(spec, grace, nil)
	if err != nil {
		t.Fatalf("startProcess: %v", err)
	}
	rp := &runningProc{p: p, done: make(chan result, 1)}
	go func() { rp.done <- p.run(func(b []byte) { _, _ = rp.out.Write(b) }) }()
	t.Cleanup(func() {
		p.stop(wire.StateCanceled, "test over", syscall.SIGKILL)
		rp.result()
	})
	return rp
}

func (rp *runningProc) result() result {
	rp.once.Do(func() { rp.res = <-rp.done })
	return rp.res
}

func (rp *runningProc) wait(t *testing.T, within time.Duration) result {
	t.Helper()
	select {
	case <-time.After(within):
		t.Fatalf("process still running after %s; output so far %q", within, rp.out.String())
	case r := <-rp.done:
		rp.once.Do(func() { rp.res = r })
	}
	return rp.res
}

// runToEnd runs spec and returns its whole output and result.
func runToEnd(t *testing.T, spec wire.CommandSpec) ([]byte, result) {
	t.Helper()
	rp := startTest(t, spec, time.Second)
	r := rp.wait(t, 30*time.Second)
	return rp.out.Bytes(), r
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// In raw mode the terminal passes every byte both ways untouched, so what
// goes in as input comes back out exactly.
func TestAllByteValuesRoundTripInRawMode(t *testing.T) {
	rp := startTest(t, wire.CommandSpec{Shell: "stty raw -echo -iexten && printf R && head -c 256"}, time.Second)
	eventually(t, 5*time.Second, "the ready mark", func() bool { return rp.out.String() == "R" })
	if err := rp.p.sendInput(allBytes()); err != nil {
		t.Fatal(err)
	}
	r := rp.wait(t, 10*time.Second)
	if got, want := rp.out.Bytes(), append([]byte("R"), allBytes()...); !bytes.Equal(got, want) {
		t.Fatalf("output differs:\n got %q\nwant %q", got, want)
	}
	if r.exitCode == nil || *r.exitCode != 0 {
		t.Fatalf("result %+v, want exit 0", r)
	}
}

// In the default (cooked) mode the tty turns "\n" into "\r\n" (ONLCR) and
// leaves every other byte alone; the agent forwards what the tty made.
func TestCookedModeOutputIsWhatTheTerminalProduces(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bytes")
	if err := os.WriteFile(file, allBytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := runToEnd(t, wire.CommandSpec{Argv: []string{"cat", file}})
	if want := bytes.ReplaceAll(allBytes(), []byte("\n"), []byte("\r\n")); !bytes.Equal(out, want) {
		t.Fatalf("output differs:\n got %q\nwant %q", out, want)
	}
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name   string
		spec   wire.CommandSpec
		code   int // when signal is ""
		signal string
	}{
		{"zero", wire.CommandSpec{Shell: "exit 0"}, 0, ""},
		{"three", wire.CommandSpec{Shell: "exit 3"}, 3, ""},
		{"argv", wire.CommandSpec{Argv: []string{"false"}}, 1, ""},
		{"SIGKILL", wire.CommandSpec{Shell: "kill -9 $$"}, 0, "SIGKILL"},
		{"SIGTERM", wire.CommandSpec{Shell: "kill -TERM $$"}, 0, "SIGTERM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, r := runToEnd(t, tt.spec)
			if r.state != wire.StateExited {
				t.Errorf("state %q, want exited", r.state)
			}
			switch {
			case tt.signal != "" && (r.signal != tt.signal || r.exitCode != nil):
				t.Errorf("signal %q exit %v, want signal %s", r.signal, r.exitCode, tt.signal)
			case tt.signal == "" && (r.exitCode == nil || *r.exitCode != tt.code || r.signal != ""):
				t.Errorf("exit %v signal %q, want exit %d", r.exitCode, r.signal, tt.code)
			}
		})
	}
}

// A program that exits right after writing must never lose its last
// bytes: the PTY is read to EIO before the exit is reported.
func TestFastExitNeverLosesTheTail(t *testing.T) {
	tests := []struct {
		name string
		spec wire.CommandSpec
		want []byte
	}{
		{"echo", wire.CommandSpec{Shell: "echo hi"}, []byte("hi\r\n")},
		{"printf without newline", wire.CommandSpec{Argv: []string{"printf", "%s", "tail"}}, []byte("tail")},
		{"100k", wire.CommandSpec{Shell: `head -c 100000 /dev/zero | tr '\0' x`}, bytes.Repeat([]byte("x"), 100000)},
	}
	const runs, workers = 200, 4
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var wg sync.WaitGroup
			jobs := make(chan int)
			for range workers {
				wg.Go(func() {
					for i := range jobs {
						if got := runOnce(tt.spec); !bytes.Equal(got, tt.want) {
							t.Errorf("run %d: got %d bytes %.40q, want %d bytes", i, len(got), got, len(tt.want))
						}
					}
				})
			}
			for i := range runs {
				jobs <- i
			}
			close(jobs)
			wg.Wait()
		})
	}
}

// runOnce runs spec to its end without a *testing.T, for worker goroutines.
func runOnce(spec wire.CommandSpec) []byte {
	p, err := startProcess(spec, time.Second, nil)
	if err != nil {
		return []byte("start: " + err.Error())
	}
	var out []byte
	p.run(func(b []byte) { out = append(out, b...) })
	return out
}

func TestLargeOutputArrivesWhole(t *testing.T) {
	out, r := runToEnd(t, wire.CommandSpec{Shell: "yes | head -c 10000000"})
	// 5,000,000 lines of "y\n", each "y\r\n" after the tty.
	if len(out) != 15_000_000 || bytes.Count(out, []byte("y\r\n")) != 5_000_000 {
		t.Fatalf("got %d bytes, want 15000000 of \"y\\r\\n\"", len(out))
	}
	if r.exitCode == nil || *r.exitCode != 0 {
		t.Fatalf("result %+v, want exit 0", r)
	}
}

// Something the program started may keep the terminal open after the
// program exits; that must not keep the command running.
func TestLingeringChildDoesNotHoldTheCommand(t *testing.T) {
	start := time.Now()
	out, r := runToEnd(t, wire.CommandSpec{Shell: "trap '' HUP; sleep 2 & echo done"})
	if elapsed := time.Since(start); elapsed > 1500*time.Millisecond {
		t.Errorf("took %s; the drain after exit should end soon after output stops", elapsed)
	}
	if string(out) != "done\r\n" || r.exitCode == nil || *r.exitCode != 0 {
		t.Errorf("output %q result %+v", out, r)
	}
}

func TestInputReachesTheProgram(t *testing.T) {
	rp := startTest(t, wire.CommandSpec{Argv: []string{"cat"}}, time.Second)
	if err := rp.p.sendInput([]byte("hello\r")); err != nil {
		t.Fatal(err)
	}
	// The tty echoes the line, then cat prints it.
	eventually(t, 5*time.Second, "echo and cat output", func() bool { return rp.out.String() == "hello\r\nhello\r\n" })
	_ = rp.p.sendInput([]byte{4}) // ^D: end of input
	if r := rp.wait(t, 5*time.Second); r.exitCode == nil || *r.exitCode != 0 {
		t.Fatalf("result %+v, want exit 0", r)
	}
}

// Input is written at once while the terminal takes it, and queued behind
// what it did not take: a program that reads late still gets every byte,
// in order.
func TestInputTheTerminalCannotTakeAtOnceArrivesInOrder(t *testing.T) {
	const chunks, size = 48, 1024
	dst := filepath.Join(t.TempDir(), "got")
	rp := startTest(t, wire.CommandSpec{Shell: "stty raw -echo && printf R && sleep 0.5 && head -c 49152 > " + dst}, time.Second)
	eventually(t, 5*time.Second, "the ready mark", func() bool { return rp.out.String() == "R" })
	var want []byte
	for i := range chunks {
		chunk := bytes.Repeat([]byte{'a' + byte(i%26)}, size)
		if err := rp.p.sendInput(chunk); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		want = append(want, chunk...)
	}
	rp.p.inMu.Lock()
	queued := rp.p.inQueued
	rp.p.inMu.Unlock()
	if queued == 0 {
		t.Fatal("the terminal took all input at once; the test needs some of it queued")
	}
	if r := rp.wait(t, 20*time.Second); r.exitCode == nil || *r.exitCode != 0 {
		t.Fatalf("result %+v, want exit 0", r)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the program read %d bytes, not the %d typed in order", len(got), len(want))
	}
}

// A program that never reads its terminal does not block the sender:
// input beyond the queue is refused at once.
func TestInputToAProgramThatDoesNotReadIsRefusedNotBlocked(t *testing.T) {
	rp := startTest(t, wire.CommandSpec{Shell: "stty raw -echo && printf R && sleep 30"}, time.Second)
	eventually(t, 5*time.Second, "the ready mark", func() bool { return rp.out.String() == "R" })
	chunk := bytes.Repeat([]byte{'x'}, 4096)
	var refused error
	for range 4 * inputQueue {
		if refused = rp.p.sendInput(chunk); refused != nil {
			break
		}
	}
	if refused != errInputFull {
		t.Fatalf("after %d KiB to a program that does not read: %v, want %v", 4*inputQueue*4, refused, errInputFull)
	}
}

func TestResizeIsVisibleToTheProgram(t *testing.T) {
	rp := startTest(t, wire.CommandSpec{Shell: "stty size; read x; stty size", Cols: 100, Rows: 30}, time.Second)
	eventually(t, 5*time.Second, "the first size", func() bool { return rp.out.String() == "30 100\r\n" })
	if err := rp.p.resize(120, 40); err != nil {
		t.Fatal(err)
	}
	_ = rp.p.sendInput([]byte("\r"))
	rp.wait(t, 5*time.Second)
	if got := rp.out.String(); got != "30 100\r\n\r\n40 120\r\n" {
		t.Fatalf("output %q", got)
	}
}

func TestDefaultSizeAndEnvironment(t *testing.T) {
	out, _ := runToEnd(t, wire.CommandSpec{Shell: `stty size; echo "$TERM $FOO"`, Env: map[string]string{"FOO": "bar"}})
	if string(out) != "24 80\r\nxterm-256color bar\r\n" {
		t.Fatalf("output %q", out)
	}
	out, _ = runToEnd(t, wire.CommandSpec{Shell: `echo "$TERM"`, Env: map[string]string{"TERM": "dumb"}})
	if string(out) != "dumb\r\n" {
		t.Fatalf("TERM set by the command: output %q", out)
	}
}

func TestStopSequence(t *testing.T) {
	tests := []struct {
		name    string
		spec    wire.CommandSpec
		stop    bool // cancel once ready
		state   wire.CommandState
		signal  string
		ready   string
		atLeast time.Duration
	}{
		{"cancel", wire.CommandSpec{Argv: []string{"sleep", "100"}}, true, wire.StateCanceled, "SIGINT", "", 0},
		{"cancel ignored, then killed", wire.CommandSpec{Shell: "trap '' INT; echo ready; sleep 100"}, true,
			wire.StateCanceled, "SIGKILL", "ready\r\n", 300 * time.Millisecond},
		{"timeout", wire.CommandSpec{Argv: []string{"sleep", "100"}, TimeoutMS: 200}, false, wire.StateTimedOut, "SIGINT", "", 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			rp := startTest(t, tt.spec, 300*time.Millisecond)
			eventually(t, 5*time.Second, "ready", func() bool { return rp.out.String() == tt.ready })
			if tt.stop {
				rp.p.stop(wire.StateCanceled, "cancelled", syscall.SIGINT)
			}
			r := rp.wait(t, 5*time.Second)
			if r.state != tt.state || r.signal != tt.signal {
				t.Errorf("state %q signal %q, want %q %q", r.state, r.signal, tt.state, tt.signal)
			}
			if elapsed := time.Since(start); elapsed < tt.atLeast || elapsed > 3*time.Second {
				t.Errorf("stopped after %s", elapsed)
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		spec wire.CommandSpec
		want string
	}{
		{"no such program", wire.CommandSpec{Argv: []string{"/no/such/program"}}, "no such file or directory"},
		{"not in PATH", wire.CommandSpec{Argv: []string{"no-such-program-xyz"}}, "executable file not found"},
		{"bad cwd", wire.CommandSpec{Argv: []string{"true"}, Cwd: "/no/such/dir"}, "working directory: stat /no/such/dir: no such file or directory"},
		{"nothing to run", wire.CommandSpec{}, errNoCommand},
		{"argv and shell", wire.CommandSpec{Argv: []string{"true"}, Shell: "true"}, errNoCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := startProcess(tt.spec, time.Second, nil)
			if err == nil {
				p.stop(wire.StateCanceled, "", syscall.SIGKILL)
				p.run(func([]byte) {})
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}
