package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/agent"
	"switchboard/internal/cli"
	"switchboard/internal/client"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// remoteRun runs a subcommand as the SSH server does: connected through
// Env.Remote, with its output in buffers.
func remoteRun(t *testing.T, cfg *client.Config, interrupt <-chan os.Signal, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := cli.Env{Stdout: &out, Stderr: &errb, Version: "test", Remote: cfg, Interrupt: interrupt}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = cli.Commands[args[0]](ctx, env, args[1:])
	return code, out.String(), errb.String()
}

// TestRemoteEnv: a remote run connects with the configuration it is
// given, ignores this process's SWITCHBOARD_* environment, offers no
// connection flags (a file of the relay's machine is not the user's to
// name), and takes ^C from Env.Interrupt: run cancels its command.
func TestRemoteEnv(t *testing.T) {
	r, admin := relaytest.StartAuth(t, relay.Config{})
	agentTok := r.Token("box-agent", "agent", 0)
	a, err := agent.New(agent.Config{RelayURL: r.URL(), Token: agentTok, Name: "box", StateDir: t.TempDir(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	t.Setenv("SWITCHBOARD_RELAY", "ws://127.0.0.1:1")
	t.Setenv("SWITCHBOARD_LIMIT", "not-a-number")
	cfg := &client.Config{Relay: r.URL(), Token: admin}
	relaytest.Eventually(t, 20*time.Second, "the agent to connect", func() bool {
		code, out, _ := remoteRun(t, cfg, nil, "agents", "--json")
		var list []wire.Agent
		return code == 0 && json.Unmarshal([]byte(out), &list) == nil && len(list) == 1 && list[0].Status != wire.AgentOffline
	})
	if code, _, stderr := remoteRun(t, cfg, nil, "history", "--limit", "5"); code != 0 {
		t.Errorf("history read SWITCHBOARD_LIMIT, or failed: exit %d: %s", code, stderr)
	}
	for _, flag := range []string{"--relay=ws://127.0.0.1:1", "--token-file=/etc/passwd", "--ca=/etc/passwd", "--token=x"} {
		code, _, stderr := remoteRun(t, cfg, nil, "agents", flag)
		if code != cli.ExitUsage || !strings.Contains(stderr, "flag provided but not defined") {
			t.Errorf("agents %s: exit %d, %q; want a usage error", flag, code, stderr)
		}
	}
	code, _, stderr := remoteRun(t, cfg, nil, "history", "--help")
	if code != 0 || strings.Contains(stderr, "SWITCHBOARD_") || strings.Contains(stderr, "--token") || !strings.Contains(stderr, "-limit") {
		t.Errorf("remote help: exit %d:\n%s", code, stderr)
	}

	interrupt := make(chan os.Signal, 1)
	result := make(chan int, 1)
	go func() {
		code, _, _ := remoteRun(t, cfg, interrupt, "run", "--agent", "box", "--", "sh", "-c", "echo started; sleep 30")
		result <- code
	}()
	relaytest.Eventually(t, 20*time.Second, "the command to start", func() bool {
		code, out, _ := remoteRun(t, cfg, nil, "history", "--json")
		return code == 0 && strings.Contains(out, `"state": "running"`)
	})
	interrupt <- syscall.SIGINT
	select {
	case code := <-result:
		if code != cli.ExitCanceled {
			t.Errorf("run after an interrupt: exit %d, want %d", code, cli.ExitCanceled)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not end after an interrupt")
	}
}
