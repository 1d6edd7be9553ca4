package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Tmux is a tmux server of the test's own (its own socket) with one
// window, "main", running a command in a real terminal: what the
// dashboard suites read the screen of, as a user would.
type Tmux struct {
	t    *testing.T
	sock string
}

// StartTmux runs command in a w×h window until the test ends; the window
// stays when the command exits (Dead says so).
func StartTmux(t *testing.T, w, h int, command string) *Tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is not installed (CI installs it; apt-get install -y tmux)")
	}
	s := &Tmux{t: t, sock: fmt.Sprintf("sb-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	s.Run("new-session", "-d", "-s", "main", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), command)
	s.Run("set-option", "-t", "main", "remain-on-exit", "on")
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", s.sock, "kill-server").Run() })
	return s
}

// Run runs a tmux command on the test's server and returns its output.
func (s *Tmux) Run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// Screen is the window's text.
func (s *Tmux) Screen() string { return s.Run("capture-pane", "-p", "-t", "main") }

// Keys sends tmux key names (Enter, C-d, …).
func (s *Tmux) Keys(keys ...string) {
	s.Run(append([]string{"send-keys", "-t", "main"}, keys...)...)
}

// Text types literal text.
func (s *Tmux) Text(text string) { s.Run("send-keys", "-t", "main", "-l", text) }

// Resize makes the window w×h.
func (s *Tmux) Resize(w, h int) {
	s.Run("resize-window", "-t", "main", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h))
}

// Dead reports whether the window's command has exited.
func (s *Tmux) Dead() bool {
	return s.Run("display-message", "-p", "-t", "main", "#{pane_dead}") == "1\n"
}

// WaitFor polls the screen until cond holds, for up to 20 s.
func (s *Tmux) WaitFor(what string, cond func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		scr := s.Screen()
		if cond(scr) {
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s; screen:\n%s", what, scr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitText waits until the screen shows every one of want.
func (s *Tmux) WaitText(want ...string) string {
	s.t.Helper()
	return s.WaitFor(fmt.Sprintf("%q on screen", want), func(scr string) bool {
		for _, w := range want {
			if !strings.Contains(scr, w) {
				return false
			}
		}
		return true
	})
}
