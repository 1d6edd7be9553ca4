package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/proctest"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// TestAllowListBypasses: an agent locked down to `make test` runs only
// that, as its operator meant: a dashboard can get no other code run
// through make's arguments, through the environment (MAKEFLAGS, PATH) or
// through a working directory with a Makefile of its own, and a program
// of that name in the working directory is not the one run. The
// directory and the variable the agent permits (--allow-cwd, --allow-env)
// work.
func TestAllowListBypasses(t *testing.T) {
	addr, db := proctest.FreeAddr(t), filepath.Join(t.TempDir(), "sb.db")
	startRelay(t, addr, db)
	marker := filepath.Join(t.TempDir(), "pwned")
	repo, evil := t.TempDir(), t.TempDir()
	write := func(path, body string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(repo, "Makefile"), "test:\n\t@echo tests pass\n", 0o644)
	write(filepath.Join(repo, "make"), "#!/bin/sh\ntouch "+marker+"\n", 0o755) // a "make" beside the Makefile
	write(filepath.Join(evil, "Makefile"), "test:\n\t@touch "+marker+"\n", 0o644)
	write(filepath.Join(evil, "make"), "#!/bin/sh\ntouch "+marker+"\n", 0o755)
	start(t, "agent", "--relay", "ws://"+addr, "--name", "locked", "--state-dir", t.TempDir(), "--log-level", "warn",
		"--allow", "make test", "--allow-cwd", repo, "--allow-env", "CI")

	cl, err := client.Dial(context.Background(), client.Config{Relay: "ws://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	relaytest.Eventually(t, 20*time.Second, "the agent online", func() bool {
		for _, a := range cl.State().Agents {
			if a.Name == "locked" && a.Status == wire.AgentIdle {
				return true
			}
		}
		return false
	})
	runTo := func(spec wire.CommandSpec) wire.Command {
		t.Helper()
		cmds, err := cl.Run(context.Background(), wire.Targets{Agents: []string{"locked"}}, spec)
		if err != nil {
			t.Fatal(err)
		}
		id := cmds[0].ID
		relaytest.Eventually(t, 20*time.Second, "command "+id+" to end", func() bool { return cl.State().Commands[id].State.Final() })
		return cl.State().Commands[id]
	}
	for _, tt := range []struct {
		name string
		spec wire.CommandSpec
		want string
	}{
		{"make's own arguments", wire.CommandSpec{Argv: []string{"make", "--eval=test: ; @touch " + marker, "test"}}, "matches no --allow pattern"},
		{"MAKEFLAGS", wire.CommandSpec{Argv: []string{"make", "test"}, Cwd: repo, Env: wire.Strings{"MAKEFLAGS": "--eval=x"}}, "sets \"MAKEFLAGS\""},
		{"PATH", wire.CommandSpec{Argv: []string{"make", "test"}, Env: wire.Strings{"PATH": evil}}, "sets \"PATH\""},
		{"a directory with its own Makefile", wire.CommandSpec{Argv: []string{"make", "test"}, Cwd: evil}, "--allow-cwd"},
		{"a link to that directory", wire.CommandSpec{Argv: []string{"make", "test"}, Cwd: symlinkTo(t, evil)}, "--allow-cwd"},
		{"a directory below the permitted one", wire.CommandSpec{Argv: []string{"make", "test"}, Cwd: subdir(t, repo)}, "--allow-cwd"},
		{"a shell line", wire.CommandSpec{Shell: "make test", Env: wire.Strings{"MAKEFLAGS": "x"}}, "sets \"MAKEFLAGS\""},
	} {
		c := runTo(tt.spec)
		if c.State != wire.StateRejected || !strings.Contains(c.Reason, tt.want) {
			t.Errorf("%s: %s %q; want rejected saying %q", tt.name, c.State, c.Reason, tt.want)
		}
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("a refused command ran: %v", err)
	}

	// What the agent permits runs, with make from the agent's own PATH,
	// not the "make" in the working directory.
	c := runTo(wire.CommandSpec{Argv: []string{"make", "test"}, Cwd: repo, Env: wire.Strings{"CI": "1"}})
	if c.State != wire.StateExited || c.ExitCode == nil || *c.ExitCode != 0 {
		t.Fatalf("the permitted command: %+v", c)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the make in the working directory ran instead of the agent's: %v", err)
	}
}

func symlinkTo(t *testing.T, dir string) string {
	t.Helper()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	return link
}

func subdir(t *testing.T, dir string) string {
	t.Helper()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "Makefile"), []byte("test:\n\t@echo sub\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return sub
}
