//go:build linux

package agent

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

func TestIsInteractiveShell(t *testing.T) {
	for argv, want := range map[string]bool{
		"bash": true, "-bash": true, "/bin/zsh -l": true, "bash --norc -i": true, "fish": true,
		"bash -c read": false, "bash -lc x": false, "sh script.sh": false, "python3": false, "bash --rcfile x": false,
	} {
		var args [][]byte
		for _, a := range strings.Fields(argv) {
			args = append(args, []byte(a))
		}
		if got := isInteractiveShell(args); got != want {
			t.Errorf("isInteractiveShell(%s) = %v", argv, got)
		}
	}
}

// BenchmarkProbe is one look at a command waiting at a prompt, the
// costliest case (every file the probe reads): it runs every probeEvery
// for each running command.
func BenchmarkProbe(b *testing.B) {
	cmd := exec.Command("bash", "-c", "read -p 'Name? ' x")
	master, err := pty.Start(cmd)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); master.Close() }()
	ptmx, err := pollable(master)
	if err != nil {
		b.Fatal(err)
	}
	defer ptmx.Close()
	p := newTTYProbe(ptmx, cmd.Process.Pid)
	deadline := time.Now().Add(10 * time.Second)
	for p.sample() != probeWaiting {
		if time.Now().After(deadline) {
			b.Fatal("bash read -p never seen waiting")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for b.Loop() {
		if p.sample() != probeWaiting {
			b.Fatal("no longer waiting")
		}
	}
}
