package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/proctest"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// bin holds the built binaries.
var bin string

func TestMain(m *testing.M) {
	dir, err := proctest.Build("relay", "agent", "tui")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running binary (proctest.Proc).
type proc = proctest.Proc

// start runs one of the built binaries until the test ends.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return proctest.Start(t, bin, name, nil, args...)
}

// startRelay runs the relay binary on store (a SQLite file's path or a
// PostgreSQL URL, as --store takes them) and waits until it serves.
func startRelay(t *testing.T, addr, store string, extra ...string) *proc {
	t.Helper()
	if len(extra) == 0 || extra[0] != "--secure" {
		extra = append([]string{"--insecure-no-auth"}, extra...)
	} else {
		extra = extra[1:]
	}
	p := start(t, "relay", append([]string{"--addr", addr, "--store", store, "--log-level", "warn"}, extra...)...)
	relaytest.Eventually(t, 15*time.Second, "relay /healthz", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// tui runs the tui binary to completion.
func tui(t *testing.T, relay string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var env []string
	if relay != "" {
		env = append(env, "SWITCHBOARD_RELAY=ws://"+relay)
	}
	return tuiEnv(t, env, args...)
}

// tuiEnv runs the tui binary to completion with env added to the
// environment.
func tuiEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "tui"), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("tui %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

// waitIdle waits until cl sees the agent named name online and idle.
func waitIdle(t *testing.T, cl *client.Client, name string) {
	t.Helper()
	relaytest.Eventually(t, 15*time.Second, name+" online", func() bool {
		for _, a := range cl.State().Agents {
			if a.Name == name && a.Status == wire.AgentIdle {
				return true
			}
		}
		return false
	})
}

// followLines runs a command on the named agent that prints "line 1" to
// "line n", 5 ms apart, and subscribes cl to it. It returns the command's
// id and what its terminal shows.
func followLines(t *testing.T, cl *client.Client, agent string, n int) (id, want string) {
	t.Helper()
	cmds, err := cl.Run(context.Background(), wire.Targets{Agents: []string{agent}},
		wire.CommandSpec{Shell: fmt.Sprintf("i=1; while [ $i -le %d ]; do echo line $i; i=$((i+1)); sleep 0.005; done", n)})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Subscribe(cmds[0].ID, 0); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d\r\n", i)
	}
	return cmds[0].ID, b.String()
}

// waitIdleAgents waits until tui agents lists n agents, all idle, and
// returns them.
func waitIdleAgents(t *testing.T, addr string, n int) []wire.Agent {
	t.Helper()
	var agents []wire.Agent
	relaytest.Eventually(t, 15*time.Second, fmt.Sprintf("%d idle agents listed", n), func() bool {
		out, _, code := tui(t, addr, "agents", "--json")
		agents = nil
		if code != 0 || json.Unmarshal([]byte(out), &agents) != nil || len(agents) != n {
			return false
		}
		for _, a := range agents {
			if a.Status != wire.AgentIdle {
				return false
			}
		}
		return true
	})
	return agents
}
