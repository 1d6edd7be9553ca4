// Package proctest builds Switchboard's real binaries for tests that run
// them as separate processes, the way a user would (the end-to-end, fault,
// TUI and browser suites). Binaries are built with the race detector when
// the tests are.
package proctest

import (
	"fmt"
	"os"
	"os/exec"
)

// Race reports whether this test binary was built with -race.
const Race = raceEnabled

// Build compiles the named commands ("relay", "agent", "tui") into a new
// temporary directory and returns it; the caller removes it.
func Build(commands ...string) (string, error) {
	dir, err := os.MkdirTemp("", "switchboard-bin-")
	if err != nil {
		return "", fmt.Errorf("make binary directory: %w", err)
	}
	args := []string{"build", "-o", dir + "/"}
	if Race {
		args = append(args, "-race")
	}
	for _, c := range commands {
		args = append(args, "switchboard/cmd/"+c)
	}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("build %v: %w\n%s", commands, err, out)
	}
	return dir, nil
}
