package web_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/proctest"
	"switchboard/internal/relaytest"
)

// TestVendorMatchesPinnedModules: the committed web/vendor is what make
// web writes from node_modules, as package-lock.json pins it. It needs
// node_modules, which make web (and so make test) installs.
func TestVendorMatchesPinnedModules(t *testing.T) {
	if _, err := os.Stat("../../web/node_modules/@xterm/xterm"); err != nil {
		t.Skip("web/node_modules is not installed: run make web (make test does)")
	}
	cmd := exec.Command("node", "build.mjs", "--check")
	cmd.Dir = "../../web"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node build.mjs --check: %v\n%s", err, out)
	}
}

// TestRelayBuiltWithoutNodeServesThePage builds the relay from a clone of
// what is committed, with no Node or npm on the PATH (as go install does),
// and loads its page in Chromium: a relay built so served "web assets not
// built" while the assets were generated into an ignored folder.
func TestRelayBuiltWithoutNodeServesThePage(t *testing.T) {
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("find the repository: %v", err)
	}
	clone := filepath.Join(t.TempDir(), "switchboard")
	if out, err := exec.Command("git", "clone", "--quiet", strings.TrimSpace(string(root)), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "relay")
	build := exec.Command(goBin, "build", "-o", bin, "./cmd/relay")
	build.Dir = clone
	build.Env = append(withoutPath(os.Environ()), "PATH="+filepath.Dir(goBin)) // no node, no npm
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/relay in a clean clone: %v\n%s", err, out)
	}

	addr := proctest.FreeAddr(t)
	relay := exec.Command(bin, "--addr", addr, "--insecure-no-auth", "--store", filepath.Join(t.TempDir(), "sb.db"), "--log-level", "warn")
	relay.Stdout, relay.Stderr = testLog{t, "relay"}, testLog{t, "relay"}
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = relay.Process.Kill(); _ = relay.Wait() })
	relaytest.Eventually(t, 15*time.Second, "the relay to serve", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	for _, path := range []string{"/", "/app.js", "/vendor/xterm.mjs", "/vendor/xterm.css", "/vendor/addon-fit.mjs"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
	}

	e := &env{t: t, bctx: browser(t)}
	p := e.newPageAt("clone", "http://"+addr+"/")
	p.waitFor("the page to connect", `document.getElementById('conn').classList.contains('conn-connected')`)
	p.waitFor("xterm.js loaded", `typeof window.switchboard.open === 'function'`)
}

func withoutPath(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PATH=") {
			out = append(out, kv)
		}
	}
	return out
}
