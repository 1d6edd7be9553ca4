package relay_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/internal/agent"
	"switchboard/internal/proctest"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// getCast fetches a command's asciicast with the given client and
// Authorization header; it returns the status and the body.
func getCast(t *testing.T, c *http.Client, r *relaytest.Relay, id, authz, query string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", r.HTTPURL()+"/api/commands/"+id+"/asciicast"+query, nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Type") != "application/x-asciicast" {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, body
}

// TestAsciicastExport: a viewer's token or browser session gets a
// command's recording as asciicast v2, which the real asciinema prints as
// the command's output, byte for byte; an agent's token, no credentials,
// and commands that do not exist get what they deserve.
func TestAsciicastExport(t *testing.T) {
	r, admin := relaytest.StartAuth(t, relay.Config{})
	viewer := r.Token("viewer", store.RoleViewer, 0)
	agentTok := r.Token("box-agent", store.RoleAgent, 0)
	startAgent(t, r, "box", func(c *agent.Config) { c.Token, c.RecordInput = agentTok, true })
	w := watchAs(t, r, admin)
	w.waitAgent("box", wire.AgentIdle)
	// Characters of two to four bytes, cut wherever the reads fall.
	cmds := w.run(one("box"), wire.CommandSpec{Shell: `printf 'é漢😀 '; sleep 0.2; i=0; while [ $i -lt 300 ]; do printf 'ü→😀%d\n' $i; i=$((i+1)); done`})
	c := w.waitEnd(cmds[0].ID)
	want := []byte(w.out(c.ID))

	plain := &http.Client{}
	for _, tt := range []struct {
		name, authz string
		status      int
	}{
		{"no credentials", "", http.StatusUnauthorized},
		{"unknown token", "Bearer sbt_nope", http.StatusUnauthorized},
		{"an agent's token", "Bearer " + agentTok, http.StatusForbidden},
	} {
		if status, body := getCast(t, plain, r, c.ID, tt.authz, ""); status != tt.status {
			t.Errorf("%s: status %d (%s), want %d", tt.name, status, body, tt.status)
		}
	}
	if status, _ := getCast(t, plain, r, "c-nope", "Bearer "+viewer, ""); status != http.StatusNotFound {
		t.Errorf("unknown command: status %d", status)
	}

	status, cast := getCast(t, plain, r, c.ID, "Bearer "+viewer, "")
	if status != http.StatusOK {
		t.Fatalf("viewer's token: status %d: %s", status, cast)
	}
	b := newBrowser(t, r)
	if code, reply := b.login(fmt.Sprintf(`{"token":%q}`, viewer)); code != http.StatusOK {
		t.Fatalf("login: %d %v", code, reply)
	}
	if status, fromPage := getCast(t, b.c, r, c.ID, "", ""); status != http.StatusOK || !bytes.Equal(fromPage, cast) {
		t.Fatalf("signed-in page: status %d, %d bytes; the token's export %d", status, len(fromPage), len(cast))
	}
	head, _, _ := strings.Cut(string(cast), "\n")
	for _, field := range []string{`"version":2`, `"width":80`, `"height":24`, `"timestamp":`, `"command":"printf`, `"title":"box: printf`, `"env":{"TERM":"xterm-256color"}`} {
		if !strings.Contains(head, field) {
			t.Errorf("header %s lacks %s", head, field)
		}
	}
	file := filepath.Join(t.TempDir(), "c.cast")
	if err := os.WriteFile(file, cast, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := proctest.AsciinemaCat(t, file); !bytes.Equal(got, want) {
		t.Fatalf("asciinema cat printed %d bytes, the command %d:\n%q\n%q", len(got), len(want), got[:min(80, len(got))], want[:min(80, len(want))])
	}
}
