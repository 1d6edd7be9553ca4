package web_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"switchboard/internal/proctest"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
)

// agentBin is the real agent binary, built once for all tests.
var agentBin string

func TestMain(m *testing.M) {
	dir, err := proctest.Build("agent")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agentBin = filepath.Join(dir, "agent")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// chromium finds Debian's Chromium. A missing browser fails the test: CI
// installs it, and a browser test that skips proves nothing.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SWITCHBOARD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found (looked for chromium, chromium-browser, google-chrome in PATH, and $SWITCHBOARD_CHROMIUM): " +
		"install Debian's chromium package (apt-get install -y chromium); the browser tests need it")
	return ""
}

// browser starts a headless Chromium for the test and returns its
// context; each page opened from it is a new tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	return bctx
}

// env is a relay serving the page, with its log captured.
type env struct {
	t     *testing.T
	relay *relaytest.Relay
	log   *logBuffer
	bctx  context.Context
}

// newEnv starts a relay without authentication.
func newEnv(t *testing.T, cfg relay.Config) *env {
	t.Helper()
	lb := &logBuffer{t: t}
	cfg.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e := &env{t: t, relay: relaytest.Start(t, cfg), log: lb, bctx: browser(t)}
	t.Cleanup(e.checkBrowserLog)
	return e
}

// newAuthEnv starts a relay that wants tokens.
func newAuthEnv(t *testing.T, cfg relay.Config) *env {
	t.Helper()
	lb := &logBuffer{t: t}
	cfg.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, _ := relaytest.StartAuth(t, cfg)
	e := &env{t: t, relay: r, log: lb, bctx: browser(t)}
	t.Cleanup(e.checkBrowserLog)
	return e
}

// checkBrowserLog fails the test if a page reported an error or warning.
func (e *env) checkBrowserLog() {
	for _, line := range strings.Split(e.log.String(), "\n") {
		if strings.Contains(line, "source=browser") {
			e.t.Errorf("the page reported a problem: %s", line)
		}
	}
}

// startAgent runs the real agent binary until the test ends. token is
// empty for a relay without authentication.
func (e *env) startAgent(name string, labels map[string]string, token ...string) {
	e.t.Helper()
	var args []string
	for k, v := range labels {
		args = append(args, "--label", k+"="+v)
	}
	e.runAgent(name, args, token...)
}

// startSession runs the real agent binary with a session program.
func (e *env) startSession(name string, program ...string) {
	e.t.Helper()
	e.runAgent(name, append([]string{"--"}, program...))
}

func (e *env) runAgent(name string, extra []string, token ...string) {
	e.t.Helper()
	args := []string{"--relay", e.relay.URL(), "--name", name, "--state-dir", e.t.TempDir(),
		"--cancel-grace", "1s", "--log-level", "warn"}
	cmd := exec.Command(agentBin, append(args, extra...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWITCHBOARD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if len(token) > 0 {
		cmd.Env = append(cmd.Env, "SWITCHBOARD_TOKEN="+token[0])
	}
	cmd.Stdout, cmd.Stderr = testLog{e.t, "agent " + name}, testLog{e.t, "agent " + name}
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start agent: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	e.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("agent %s: %v", name, err)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			e.t.Errorf("agent %s did not stop on SIGTERM", name)
		}
	})
}

// page is one browser tab showing the dashboard.
type page struct {
	t    *testing.T
	ctx  context.Context
	name string
}

// openPage opens the dashboard and waits until it is connected.
func (e *env) openPage(name string) *page {
	e.t.Helper()
	p := e.newPage(name)
	p.waitFor("the connection banner to say connected", `document.getElementById('conn').classList.contains('conn-connected')`)
	return p
}

// newPage opens the dashboard in a new tab.
func (e *env) newPage(name string) *page {
	e.t.Helper()
	return e.newPageAt(name, e.relay.HTTPURL()+"/")
}

// newPageAt opens the dashboard at url (the page's address, or a link to
// it) in a new tab.
func (e *env) newPageAt(name, url string) *page {
	e.t.Helper()
	ctx, cancel := chromedp.NewContext(e.bctx)
	e.t.Cleanup(cancel)
	// The first action opens the tab; it must run on the tab's own context,
	// as a tab opened under a shorter-lived one closes with it.
	if err := chromedp.Do(ctx); err != nil {
		e.t.Fatalf("open a tab: %v", err)
	}
	p := &page{t: e.t, ctx: ctx, name: name}
	p.do(chromedp.Navigate(url))
	return p
}

// do runs actions, failing the test on error.
func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.fail("browser action: %v", err)
	}
}

// eval evaluates a JavaScript expression and decodes its value into T.
func eval[T any](p *page, js string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		p.fail("evaluate %s: %v", js, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it is true.
func (p *page) waitFor(what, cond string) {
	p.t.Helper()
	p.waitForWithin(20*time.Second, what, cond)
}

func (p *page) waitForWithin(timeout time.Duration, what, cond string) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !eval[bool](p, "!!("+cond+")") {
		if time.Now().After(deadline) {
			p.fail("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fail saves a screenshot and the page's state, then fails the test.
func (p *page) fail(format string, args ...any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		path := filepath.Join(os.TempDir(), "switchboard-web-"+strings.ReplaceAll(p.t.Name(), "/", "-")+"-"+p.name+".png")
		if os.WriteFile(path, png, 0o644) == nil {
			p.t.Logf("screenshot of page %s: %s", p.name, path)
		}
	}
	if state, err := chromedp.Run(ctx, chromedp.Evaluate[string](debugStateJS)); err == nil {
		p.t.Logf("page %s state: %s", p.name, state)
	}
	p.t.Fatalf(format, args...)
}

const debugStateJS = `JSON.stringify({
  banner: document.getElementById('conn').textContent.trim(),
  terminals: [...window.switchboard.terminals.values()].map(t => ({id: t.id, offset: t.offset, pending: t.pending,
    subscribed: t.subscribed, paused: t.paused, ended: t.ended, tail: t.text().slice(-5)})),
  commands: [...window.switchboard.commands.values()].map(c => c.id + ' ' + c.state),
  agents: [...window.switchboard.agents.values()].map(a => a.name + ' ' + a.status),
})`

// screenshot saves the page to $SWITCHBOARD_SCREENSHOTS/NAME.png when that
// variable names a directory; it is for looking at the page by eye.
func (p *page) screenshot(name string) {
	dir := os.Getenv("SWITCHBOARD_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Errorf("screenshot: %v", err)
		return
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Errorf("save screenshot: %v", err)
	}
	p.t.Logf("screenshot: %s", path)
}

// selectAgent ticks an agent's checkbox, as a user would.
func (p *page) selectAgent(name string) {
	p.t.Helper()
	row := fmt.Sprintf(`#agents li.agent[data-name=%q]`, name)
	p.waitFor("agent "+name+" in the list", fmt.Sprintf("document.querySelector(%q)", row))
	p.do(chromedp.Click(chromedp.CSS(row + " input[type=checkbox]")))
	p.waitFor("agent "+name+" selected", fmt.Sprintf("document.querySelector(%q).checked", row+" input"))
}

// run types a command line and presses Enter, and returns the id of the
// command whose terminal opens for it.
func (p *page) run(line string) string {
	p.t.Helper()
	before := eval[[]string](p, `[...window.switchboard.terminals.keys()]`)
	p.do(chromedp.SendKeys(chromedp.ID("command"), line+"\r"))
	p.waitFor("a terminal for "+line, fmt.Sprintf("window.switchboard.terminals.size > %d", len(before)))
	ids := eval[[]string](p, `[...window.switchboard.terminals.keys()]`)
	return ids[len(ids)-1]
}

// terminalText reads a terminal's whole buffer, scrollback included,
// straight from xterm.js.
func (p *page) terminalText(id string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`(() => {
  const b = window.switchboard.terminals.get(%q).term.buffer.active;
  const out = [];
  for (let y = 0; y < b.length; y++) {
    const l = b.getLine(y);
    const s = l.translateToString(true);
    if (l.isWrapped && out.length) out[out.length - 1] += s; else out.push(s);
  }
  return out.join('\n');
})()`, id))
}

func (p *page) waitForText(id, want string) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("%q in terminal %s", want, id), fmt.Sprintf(`(() => {
  const b = window.switchboard.terminals.get(%q).term.buffer.active;
  for (let y = 0; y < b.length; y++) if (b.getLine(y).translateToString(true).includes(%q)) return true;
  return false;
})()`, id, want))
}

// wantLinesOnce checks that terminal id shows each of line-1 … line-n
// exactly once.
func (p *page) wantLinesOnce(id string, n int) {
	p.t.Helper()
	text := p.terminalText(id)
	count := map[string]int{}
	for _, line := range strings.Split(text, "\n") {
		count[line]++
	}
	for i := 1; i <= n; i++ {
		if c := count["line-"+strconv.Itoa(i)]; c != 1 {
			p.t.Errorf("line-%d appears %d times, want exactly once", i, c)
		}
	}
	if p.t.Failed() {
		p.t.Logf("terminal:\n%s", text)
	}
}

// commandState is the state the page shows for a command.
func (p *page) commandState(id string) string {
	return eval[string](p, fmt.Sprintf(`window.switchboard.commands.get(%q)?.state ?? ''`, id))
}

// typeKeys types s into the focused element as a person would: one
// keyDown (carrying the text of a printable key) and one keyUp per key.
// chromedp's KeyEvent sends a separate char event as well, which a page
// that handles keydown itself (xterm.js does) would see as a second press.
func typeKeys(s string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, r := range s {
			for _, k := range kb.Encode(r) {
				switch k.Type {
				case kb.KeyChar:
					continue
				case kb.KeyDown:
					if v, ok := kb.Keys[r]; ok && v.Print {
						k.Text, k.UnmodifiedText = v.Text, v.Unmodified
					}
				}
				if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, *k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// logBuffer keeps the relay's log and copies it to the test log.
type logBuffer struct {
	t   *testing.T
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.Log("relay: " + strings.TrimSuffix(string(p), "\n"))
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testLog struct {
	t      *testing.T
	prefix string
}

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(w.prefix + ": " + strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
