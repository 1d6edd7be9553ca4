package sshd_test

import (
	"strings"
	"testing"
	"time"

	"switchboard/internal/relaytest"
	"switchboard/internal/sshd"
	"switchboard/internal/store"
)

// TestExecSearch: ssh HOST search runs tui search as the key's token:
// output a command printed is found, with its agent, exit 0; a query that
// finds nothing exits 1, a bad one says why.
func TestExecSearch(t *testing.T) {
	h := newHarness(t, sshd.Config{})
	h.agent("box")
	alice := h.user("alice", store.RoleViewer)
	bob := h.user("bob", store.RoleOperator)
	h.agentsOnline(bob, "box")
	if _, errs, code := h.ssh(bob, "run", "--agent", "box", "--", "sh", "-c", "'echo before; echo needle-$((6*7)) found; echo after'"); code != 0 {
		t.Fatalf("run: exit %d, %s", code, errs)
	}
	var out string
	relaytest.EventuallyEvery(t, 100*time.Millisecond, 30*time.Second, "the line found over ssh", func() bool {
		var code int
		out, _, code = h.ssh(alice, "search", "needle", "--context", "1")
		return code == 0
	})
	if !strings.Contains(out, "  > needle-42 found\n") || !strings.Contains(out, "    before\n") || !strings.Contains(out, " box ") {
		t.Fatalf("search over ssh printed:\n%s", out)
	}
	if out, _, code := h.ssh(alice, "search", "haystack"); code != 1 || out != "" {
		t.Fatalf("search finding nothing: exit %d, %q", code, out)
	}
	if _, errs, code := h.ssh(alice, "search", `'"needle'`); code != 1 || !strings.Contains(errs, "not closed") {
		t.Fatalf("bad query: exit %d, %q", code, errs)
	}
}
