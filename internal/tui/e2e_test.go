package tui

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/proctest"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
)

// The end-to-end test runs the real tui binary in tmux (a real terminal
// emulator with a pseudo-terminal) against a real relay and a real agent
// process, and reads the screen as a user would.

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// buildBinaries builds cmd/tui and cmd/agent once per test binary.
func buildBinaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = proctest.Build("tui", "agent")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// live reports whether a screen shows a running command: as running, or,
// once its agent sees it reading its terminal, as waiting for input.
func live(screen string) bool {
	return strings.Contains(screen, "▶ running") || strings.Contains(screen, "◆ waiting")
}

// startAgent runs the real agent binary until the test ends; extra
// arguments follow its own (a session program after "--", say).
func startAgent(t *testing.T, bin, relayURL, name string, extra ...string) {
	t.Helper()
	var log bytes.Buffer
	args := []string{"--relay", relayURL, "--name", name, "--label", "pool=e2e", "--state-dir", t.TempDir()}
	cmd := exec.Command(filepath.Join(bin, "agent"), append(args, extra...)...)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start agent: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	})
}

func TestDashboardEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs them in tmux")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	bin := buildBinaries(t)
	r := relaytest.Start(t, relay.Config{})
	startAgent(t, bin, r.URL(), "e2e-box")
	logFile := filepath.Join(t.TempDir(), "tui.log")
	// The shell records the dashboard's exit status in a file: tmux's own
	// record of it waits for tmux to reap the process, which a loaded
	// machine has seen take over 10 s.
	statusFile := filepath.Join(t.TempDir(), "status")
	scr := proctest.StartTmux(t, 100, 30, fmt.Sprintf("%s --relay %s --log-file %s --log-level debug; echo $? > %s",
		filepath.Join(bin, "tui"), r.URL(), logFile, statusFile))
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("tui log:\n%s", b)
		}
	})

	scr.WaitText("e2e-box", "idle", "● connected", "pool=e2e")

	t.Run("run a command", func(t *testing.T) {
		scr.Keys("Enter")
		scr.Text("printf 'hello-%s\\n' $((6*7)); printf '\\033[31mred\\033[0m\\n'")
		scr.Keys("Enter")
		got := scr.WaitText("hello-42", "red", "✓ exit 0", "1 e2e-box · printf")
		if strings.Contains(got, "033") {
			t.Fatalf("escape sequences shown raw:\n%s", got)
		}
		colored := scr.Run("capture-pane", "-p", "-e", "-t", "main")
		if !strings.Contains(colored, "\x1b[31mred") {
			t.Errorf("the pane lost the output's colour")
		}
	})

	t.Run("resize", func(t *testing.T) {
		for _, size := range [][2]int{{80, 24}, {160, 45}, {100, 30}} {
			scr.Resize(size[0], size[1])
			got := scr.WaitFor(fmt.Sprintf("layout at %dx%d", size[0], size[1]), func(s string) bool {
				lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
				return len(lines) == size[1] && strings.Contains(lines[0], "╮") &&
					strings.Contains(s, "hello-42") && strings.Contains(lines[len(lines)-1], "connected")
			})
			for i, l := range strings.Split(strings.TrimRight(got, "\n"), "\n") {
				if n := len([]rune(l)); n > size[0] {
					t.Fatalf("line %d is %d wide at width %d", i, n, size[0])
				}
			}
		}
	})

	t.Run("interactive cat", func(t *testing.T) {
		scr.Keys(":")
		scr.Text("cat -v")
		scr.Keys("Enter")
		scr.WaitFor("cat -v running", func(s string) bool { return strings.Contains(s, "e2e-box · cat -v") && live(s) })
		scr.Keys("i")
		scr.WaitText("INTERACTIVE", "ctrl+] releases")
		scr.Text("meow")
		scr.Keys("C-a", "Up", "Enter")
		// The PTY echoes the line (control characters as ^X), then cat -v
		// prints what it read: the bytes a terminal sends for those keys.
		scr.WaitFor("the line echoed and printed", func(s string) bool { return strings.Count(s, "meow^A^[[A") >= 2 })
		scr.Keys("C-]")
		scr.WaitFor("interactive mode to end", func(s string) bool { return !strings.Contains(s, "INTERACTIVE") })
		scr.Keys("i")
		scr.WaitText("INTERACTIVE")
		scr.Keys("C-c") // goes to cat, not to the dashboard
		scr.WaitText("keyboard is yours again")
		if s := scr.Screen(); strings.Contains(s, "INTERACTIVE") || live(s) {
			t.Fatalf("still interactive or running after ^C:\n%s", s)
		}
	})

	t.Run("reconnect resumes panes", func(t *testing.T) {
		scr.Keys("x", "x") // close the old panes
		scr.WaitText("No command is open")
		scr.Keys(":")
		scr.Text("for i in $(seq 1 20); do echo line-$i; sleep 0.25; done")
		scr.Keys("Enter")
		scr.WaitText("line-3")
		r.Stop()
		scr.WaitText("reconnecting")
		time.Sleep(500 * time.Millisecond) // let output pile up at the agent
		r.Start()
		got := scr.WaitText("line-20", "✓ exit 0", "● connected")
		for i := 1; i <= 20; i++ {
			re := regexp.MustCompile(fmt.Sprintf(`(?m)│line-%d\s+│`, i))
			if n := len(re.FindAllString(got, -1)); n != 1 {
				t.Fatalf("line-%d shown %d times:\n%s", i, n, got)
			}
		}
	})

	scr.Keys("q")
	deadline := time.Now().Add(10 * time.Second)
	for !scr.Dead() {
		if time.Now().After(deadline) {
			t.Fatalf("q did not quit:\n%s", scr.Screen())
		}
		time.Sleep(50 * time.Millisecond)
	}
	deadline = time.Now().Add(10 * time.Second)
	dead := time.Now()
	var st []byte
	for st, _ = os.ReadFile(statusFile); len(st) == 0; st, _ = os.ReadFile(statusFile) {
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if string(st) != "0\n" {
		t.Fatalf("tui exit status %q, %s after its terminal closed", st, time.Since(dead))
	}
}
