package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/proctest"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// TestCLISearch: tui search finds lines a real agent's commands printed,
// as the real relay indexed them: escapes stripped, newest first, with
// context, narrowed by agent and label, as JSON; what a line holds that a
// terminal would act on is printed escaped; a query matching nothing
// exits 1, a bad one 1 with the relay's reason, none at all 2.
func TestCLISearch(t *testing.T) {
	addr := proctest.FreeAddr(t)
	startRelay(t, addr, filepath.Join(t.TempDir(), "sb.db"))
	start(t, "agent", "--relay", "ws://"+addr, "--name", "box-a", "--label", "pool=ci", "--state-dir", t.TempDir())
	start(t, "agent", "--relay", "ws://"+addr, "--name", "box-b", "--state-dir", t.TempDir())
	waitIdleAgents(t, addr, 2)
	for _, run := range [][]string{
		{"--agent", "box-a", "--", "printf", `compiling\r\n\033[31mpanic: first\033[0m\r\nexit status 2\r\n`},
		{"--agent", "box-b", "--", "printf", `panic: second \342\200\256evil\r\n`},
	} {
		if _, errs, code := tui(t, addr, append([]string{"run"}, run...)...); code != 0 {
			t.Fatalf("run %v: exit %d, %s", run, code, errs)
		}
	}
	var out string
	relaytest.Eventually(t, 60*time.Second, "both lines indexed", func() bool {
		var code int
		out, _, code = tui(t, addr, "search", "panic", "--context", "1")
		return code == 0 && strings.Count(out, "  > ") == 2
	})
	first, second := strings.Index(out, "panic: first"), strings.Index(out, "panic: second")
	if second < 0 || first < second || !strings.Contains(out, "    compiling\n  > panic: first\n    exit status 2\n") {
		t.Fatalf("search panic printed:\n%s", out)
	}
	if strings.Contains(out, "\u202e") || !strings.Contains(out, `\u202e`) {
		t.Fatalf("a bidirectional override in a line is printed as is:\n%q", out)
	}
	if out, _, code := tui(t, addr, "search", "panic", "--agent", "box-a"); code != 0 || strings.Contains(out, "second") {
		t.Fatalf("--agent box-a: exit %d\n%s", code, out)
	}
	if out, _, code := tui(t, addr, "search", "--label", "pool=ci", "panic"); code != 0 || strings.Contains(out, "second") {
		t.Fatalf("--label pool=ci: exit %d\n%s", code, out)
	}
	js, _, code := tui(t, addr, "search", `"exit status"`, "--json")
	var hits []wire.SearchHit
	if err := json.Unmarshal([]byte(js), &hits); code != 0 || err != nil || len(hits) != 1 || hits[0].AgentName != "box-a" ||
		hits[0].Text != "exit status 2" || hits[0].Command == "" || hits[0].Offset == 0 {
		t.Fatalf("--json: exit %d, %v: %s", code, err, js)
	}
	if out, _, code := tui(t, addr, "search", "nowhere"); code != 1 || out != "" {
		t.Fatalf("no match: exit %d, %q", code, out)
	}
	if _, errs, code := tui(t, addr, "search", ":::"); code != 1 || !strings.Contains(errs, "no letters or digits") {
		t.Fatalf("bad query: exit %d, %q", code, errs)
	}
	if _, _, code := tui(t, addr, "search"); code != 2 {
		t.Fatalf("no query: exit %d", code)
	}
}
