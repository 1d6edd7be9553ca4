package e2e

import (
	"bytes"
	"context"
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
	"switchboard/internal/tlsconf"
	"switchboard/internal/wire"
)

// TestAgentLockedDown runs the real binaries as a careful operator would:
// a relay with tokens and TLS, and an agent configured only through the
// environment, trusting the relay's private CA, with an allow list and no
// input. Everything the agent was told shows at the dashboard, a command
// outside the list never runs, and the agent's token does not leak into
// its commands' environment.
func TestAgentLockedDown(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := relaytest.WriteCA(t, dir)
	db := filepath.Join(dir, "sb.db")
	admin := createToken(t, db, "admin", "e2e-admin")
	agentToken := createToken(t, db, "agent", "e2e-agent")
	addr := proctest.FreeAddr(t)
	start(t, "relay", "--addr", addr, "--db", db, "--log-level", "warn", "--tls-cert", certFile, "--tls-key", keyFile)
	trust, err := tlsconf.Client(caFile)
	if err != nil {
		t.Fatal(err)
	}
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: trust}}
	relaytest.Eventually(t, 15*time.Second, "relay /healthz over https", func() bool {
		resp, err := https.Get("https://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	ag := startEnv(t, "agent", []string{
		"SWITCHBOARD_RELAY=wss://" + addr,
		"SWITCHBOARD_CA=" + caFile,
		"SWITCHBOARD_TOKEN=" + agentToken,
		"SWITCHBOARD_NAME=locked",
		"SWITCHBOARD_LABEL=pool=ci, env=e2e",
		"SWITCHBOARD_ALLOW=echo *, env",
		"SWITCHBOARD_NO_INPUT=true",
		"SWITCHBOARD_STATE_DIR=" + t.TempDir(),
	})

	dialer, err := client.TLSDialer(caFile)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.Dial(context.Background(), client.Config{Relay: "wss://" + addr, Token: admin, Dialer: dialer})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var agent wire.Agent
	relaytest.Eventually(t, 20*time.Second, "the agent online", func() bool {
		for _, a := range cl.State().Agents {
			if a.Name == "locked" && a.Status == wire.AgentIdle {
				agent = a
				return true
			}
		}
		return false
	})
	if !agent.NoInput || agent.Labels["pool"] != "ci" || agent.Labels["env"] != "e2e" || len(agent.Labels) != 2 {
		t.Errorf("agent as dashboards see it: %+v", agent)
	}

	marker := filepath.Join(t.TempDir(), "ran")
	c, _ := runAndRead(t, cl, wire.CommandSpec{Shell: "echo hi; touch " + marker})
	reason := `not allowed on this agent: "echo hi; touch ` + marker + `" matches no --allow pattern` +
		" (in a shell command, * and ? do not match ; & | < > ( ) $ ` or line breaks)"
	if c.State != wire.StateRejected || c.Reason != reason {
		t.Errorf("disallowed command: %+v\nwant rejected: %s", c, reason)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("the disallowed command ran: %v", err)
	}

	c, out := runAndRead(t, cl, wire.CommandSpec{Argv: []string{"env"}})
	if c.State != wire.StateExited || !strings.Contains(out, "SWITCHBOARD_NAME=locked") {
		t.Fatalf("env: %+v, output:\n%s", c, out)
	}
	if strings.Contains(out, agentToken) || strings.Contains(out, "SWITCHBOARD_TOKEN=") {
		t.Errorf("the agent's token reached its command's environment:\n%s", out)
	}

	entries, err := cl.Audit(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var audited bool
	for _, e := range entries {
		audited = audited || e.Action == "rejected" && e.Detail == reason
	}
	if !audited {
		t.Errorf("the rejection is not in the audit trail: %+v", entries)
	}
	if log := ag.LogText(); strings.Contains(log, agentToken) {
		t.Errorf("the agent logged its token:\n%s", log)
	}

	// The audit trail from the command line, as an admin reads it; a
	// viewer may not.
	tokenFile := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tokenFile, []byte(admin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := tui(t, "", "audit", "--json", "--relay", "wss://"+addr, "--ca", caFile, "--token-file", tokenFile)
	if code != 0 || !strings.Contains(out, `"action": "rejected"`) || !strings.Contains(out, `"token": "e2e-admin"`) {
		t.Errorf("tui audit: code %d, stderr %q, out:\n%s", code, stderr, out)
	}
	viewer := createToken(t, db, "viewer", "e2e-viewer")
	_, stderr, code = tui(t, "", "audit", "--relay", "wss://"+addr, "--ca", caFile, "--token", viewer)
	if code == 0 || !strings.Contains(stderr, "forbidden") {
		t.Errorf("tui audit as a viewer: code %d, stderr %q", code, stderr)
	}
}

// TestInsecureNoAuthOnlyOnLoopback: the relay refuses to run without
// authentication on an address other machines can reach.
func TestInsecureNoAuthOnlyOnLoopback(t *testing.T) {
	cmd := exec.Command(filepath.Join(bin, "relay"), "--insecure-no-auth", "--addr", "0.0.0.0:0", "--db", filepath.Join(t.TempDir(), "db"))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "needs a loopback --addr") {
		t.Fatalf("relay --insecure-no-auth on 0.0.0.0: err %v, output %q", err, out)
	}
}

// runAndRead runs spec on the locked agent and returns the final command
// and its whole output.
func runAndRead(t *testing.T, cl *client.Client, spec wire.CommandSpec) (wire.Command, string) {
	t.Helper()
	cmds, err := cl.Run(context.Background(), wire.Targets{Agents: []string{"locked"}}, spec)
	if err != nil {
		t.Fatal(err)
	}
	id := cmds[0].ID
	if err := cl.Subscribe(id, 0); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-cl.Events():
			switch ev := ev.(type) {
			case client.Output:
				if ev.CommandID == id {
					out.Write(ev.Data)
				}
			case client.OutputEnd:
				if ev.CommandID == id {
					relaytest.Eventually(t, 10*time.Second, "final state", func() bool { return cl.State().Commands[id].State.Final() })
					return cl.State().Commands[id], out.String()
				}
			}
		case <-deadline:
			t.Fatalf("command %s did not end; output so far:\n%s", id, out.String())
		}
	}
}

// startEnv is start with extra environment variables.
func startEnv(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	return proctest.Start(t, bin, name, env, args...)
}

// createToken makes a token with the relay binary and returns its secret.
func createToken(t *testing.T, db, role, name string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(bin, "relay"), "token", "create", "--db", db, "--role", role, "--name", name).Output()
	if err != nil {
		t.Fatalf("relay token create: %v", err)
	}
	return strings.TrimSpace(string(out))
}
