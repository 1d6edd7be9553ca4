package web_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"switchboard/internal/relay"
)

func TestPageListsAgentThatConnectsLater(t *testing.T) {
	e := newEnv(t, relay.Config{})
	p := e.openPage("a")
	p.waitFor("the empty agent list", `document.querySelector('#agents .placeholder')`)

	e.startAgent("build-1", map[string]string{"pool": "ci"})
	row := `document.querySelector('#agents li.agent[data-name="build-1"]')`
	p.waitFor("build-1 listed as idle", row+`?.dataset.status === 'idle'`)
	status := eval[string](p, row+`.querySelector('.status').textContent`)
	if status != "● idle" {
		t.Errorf("status shown as %q, want symbol and word %q", status, "● idle")
	}
	if labels := eval[string](p, row+`.querySelector('.labels').textContent`); labels != "pool=ci" {
		t.Errorf("labels shown as %q, want pool=ci", labels)
	}
	if meta := eval[string](p, row+`.querySelector('.agent-meta').textContent`); !strings.Contains(meta, "0 running") {
		t.Errorf("agent details %q do not show the running count", meta)
	}

	// The filter hides what does not match and shows what does.
	p.do(chromedp.SendKeys(chromedp.ID("filter"), "pool=gpu"))
	p.waitFor("the filter to hide build-1", row+` === null`)
	p.do(chromedp.SendKeys(chromedp.ID("filter"), strings.Repeat("\b", len("gpu"))+"ci"))
	p.waitFor("the filter to show build-1", row+` !== null`)
	p.screenshot("agents")
}

func TestRunShowsOutputInTerminal(t *testing.T) {
	e := newEnv(t, relay.Config{})
	e.startAgent("build-1", nil)
	p := e.openPage("a")
	p.selectAgent("build-1")
	p.waitFor("the run button to be enabled", `!document.getElementById('run').disabled`)

	id := p.run(`printf 'hello %s\n' "$(echo browser)"; printf '\033[1;32mgreen\033[0m done\n'`)
	p.waitForText(id, "hello browser")
	p.waitForText(id, "green done")
	p.waitFor("the command to exit 0", fmt.Sprintf(`document.querySelector('#commands li.cmd[data-id=%q] .st')?.textContent === '✓ exit 0'`, id))
	if tab := eval[string](p, fmt.Sprintf(`document.getElementById('tab-%s').textContent`, id)); !strings.Contains(tab, "✓") {
		t.Errorf("tab %q does not show the exit symbol", tab)
	}
	if strings.Count(p.terminalText(id), "hello browser") != 1 {
		t.Errorf("output shown more than once:\n%s", p.terminalText(id))
	}
	p.screenshot("output")
}

func TestTwoPagesStayInSync(t *testing.T) {
	e := newEnv(t, relay.Config{})
	e.startAgent("build-1", nil)
	a := e.openPage("a")
	b := e.openPage("b")
	a.selectAgent("build-1")

	id := a.run(`sleep 1; echo from-page-a`)
	// Page b learns of the command from events alone, then follows it.
	item := fmt.Sprintf(`#commands li.cmd[data-id=%q]`, id)
	b.waitFor("the command in page b's list", fmt.Sprintf(`document.querySelector(%q)`, item))
	b.waitFor("build-1 busy in page b", `document.querySelector('#agents li.agent[data-name="build-1"]')?.dataset.status === 'busy'`)
	b.do(chromedp.Click(chromedp.CSS(item + " button")))
	b.waitFor("page b's terminal", fmt.Sprintf(`window.switchboard.terminals.has(%q)`, id))
	b.waitForText(id, "from-page-a")
	a.waitForText(id, "from-page-a")
	for _, p := range []*page{a, b} {
		p.waitFor("the command to end in page "+p.name, fmt.Sprintf(`window.switchboard.commands.get(%q)?.state === 'exited'`, id))
		p.waitFor("build-1 idle again in page "+p.name, `document.querySelector('#agents li.agent[data-name="build-1"]')?.dataset.status === 'idle'`)
	}
	b.screenshot("sync-b")
}

func TestTypingIntoCatEchoes(t *testing.T) {
	e := newEnv(t, relay.Config{})
	e.startAgent("build-1", nil)
	p := e.openPage("a")
	p.selectAgent("build-1")

	id := p.run("cat")
	p.waitFor("cat to run", fmt.Sprintf(`window.switchboard.commands.get(%q)?.state === 'running'`, id))
	p.do(chromedp.Click(chromedp.CSS(".pane.active .xterm-screen")), typeKeys("typed-into-cat\r"))
	// The PTY echoes the line as typed, then cat writes it back.
	p.waitFor("the line twice", fmt.Sprintf(`(() => {
  const b = window.switchboard.terminals.get(%q).term.buffer.active;
  let n = 0;
  for (let y = 0; y < b.length; y++) if (b.getLine(y).translateToString(true) === 'typed-into-cat') n++;
  return n === 2;
})()`, id))
	p.screenshot("cat")

	p.do(chromedp.Click(chromedp.CSS(".pane.active .pane-cancel")))
	p.waitFor("the question before stopping", `document.querySelector('.pane.active .pane-ask-q')?.textContent === 'Stop cat on build-1?'`)
	p.do(chromedp.Click(chromedp.CSS(".pane.active .pane-yes")))
	p.waitFor("cat cancelled", fmt.Sprintf(`window.switchboard.commands.get(%q)?.state === 'cancelled'`, id))
}

func TestTerminalSizeReachesPTY(t *testing.T) {
	e := newEnv(t, relay.Config{})
	e.startAgent("build-1", nil)
	p := e.openPage("a")
	p.selectAgent("build-1")

	id := p.run("sleep 1; stty size")
	p.waitFor("the command to end", fmt.Sprintf(`window.switchboard.commands.get(%q)?.state === 'exited'`, id))
	cols := eval[int](p, fmt.Sprintf(`window.switchboard.terminals.get(%q).term.cols`, id))
	rows := eval[int](p, fmt.Sprintf(`window.switchboard.terminals.get(%q).term.rows`, id))
	p.waitForText(id, fmt.Sprintf("%d %d", rows, cols)) // the size the page fitted, not the one it asked for
}

func TestRelayRestartResumesOutputExactlyOnce(t *testing.T) {
	const n = 60
	e := newEnv(t, relay.Config{})
	e.startAgent("build-1", nil)
	p := e.openPage("a")
	p.selectAgent("build-1")

	id := p.run(fmt.Sprintf(`for i in $(seq 1 %d); do echo "line-$i"; sleep 0.05; done`, n))
	p.waitForText(id, "line-10")
	e.relay.Stop()
	p.waitFor("the banner to show the disconnection", `!document.getElementById('conn').classList.contains('conn-connected')`)
	banner := eval[string](p, `document.getElementById('conn-text').textContent`)
	if !strings.Contains(banner, "econnect") {
		t.Errorf("banner while the relay is down says %q, want it to say it is reconnecting", banner)
	}
	p.screenshot("reconnecting")
	time.Sleep(time.Second) // the command goes on; the agent holds its output
	e.relay.Start()

	p.waitForWithin(30*time.Second, "the banner to say connected again", `document.getElementById('conn').classList.contains('conn-connected')`)
	p.waitForWithin(30*time.Second, "the command to end", fmt.Sprintf(`window.switchboard.commands.get(%q)?.state === 'exited'`, id))
	p.waitForText(id, fmt.Sprintf("line-%d", n))
	p.waitFor("the whole stream", fmt.Sprintf(`window.switchboard.terminals.get(%q).ended`, id))
	p.wantLinesOnce(id, n)
}

func TestFloodIsFlowControlled(t *testing.T) {
	const last = 200000
	e := newEnv(t, relay.Config{})
	e.startAgent("build-1", nil)
	p := e.openPage("a")
	// Small watermarks so that a modest flood crosses them many times.
	eval[bool](p, `(window.switchboard.flow.high = 64 << 10, window.switchboard.flow.low = 16 << 10, true)`)
	p.selectAgent("build-1")

	id := p.run(fmt.Sprintf("seq 1 %d", last))
	p.waitForWithin(60*time.Second, "the whole output", fmt.Sprintf(`window.switchboard.terminals.get(%q).ended`, id))
	pauses := eval[int](p, `window.switchboard.stats.pauses`)
	if pauses == 0 {
		t.Errorf("the page never paused the stream: flow control did not engage")
	}
	t.Logf("the stream paused %d times", pauses)
	// Memory stays bounded: xterm never holds much more than the high
	// watermark, at most one frame beyond it.
	if most := eval[int](p, `window.switchboard.stats.maxPending`); most > 64<<10+256<<10 {
		t.Errorf("up to %d bytes waited in xterm; the bound is the 64 KiB watermark plus one 256 KiB frame", most)
	}
	// What the terminal keeps must be the tail of the output, each line once,
	// in order: pausing and resuming lost and repeated nothing.
	lines := strings.Split(strings.TrimRight(p.terminalText(id), "\n"), "\n")
	for len(lines) > 0 && lines[0] != strconv.Itoa(last-len(lines)+1) {
		lines = lines[1:] // the top line may be the command's echo or cut by scrollback
	}
	if len(lines) < 5000 {
		t.Fatalf("terminal keeps %d lines of the tail; want thousands", len(lines))
	}
	for i, line := range lines {
		if want := strconv.Itoa(last - len(lines) + 1 + i); line != want {
			t.Fatalf("line %d of the tail is %q, want %q", i, line, want)
		}
	}
}

func TestHistoryShowsOlderCommands(t *testing.T) {
	// The snapshot carries one final command only; the rest come from history.
	e := newEnv(t, relay.Config{RecentCommands: 1})
	e.startAgent("build-1", nil)
	a := e.openPage("a")
	a.selectAgent("build-1")
	var ids []string
	for i := range 3 {
		id := a.run(fmt.Sprintf("echo history-%d", i))
		a.waitFor("the command to end", fmt.Sprintf(`window.switchboard.commands.get(%q)?.state === 'exited'`, id))
		ids = append(ids, id)
	}

	b := e.openPage("b")
	b.waitFor("build-1 in page b", `document.querySelector('#agents li.agent[data-name="build-1"]')`)
	if n := eval[int](b, `document.querySelectorAll('#commands li.cmd').length`); n != 1 {
		t.Errorf("page b lists %d commands before asking for history, want the snapshot's 1", n)
	}
	b.selectAgent("build-1")
	first := fmt.Sprintf(`#commands li.cmd[data-id=%q]`, ids[0])
	b.waitFor("the oldest command from history", fmt.Sprintf(`document.querySelector(%q)`, first))
	b.do(chromedp.Click(chromedp.CSS(first + " button")))
	b.waitFor("its terminal", fmt.Sprintf(`window.switchboard.terminals.has(%q)`, ids[0]))
	b.waitForText(ids[0], "history-0")
}

func TestBrowserErrorsReachRelayLog(t *testing.T) {
	e := newEnv(t, relay.Config{})
	p := e.openPage("a")
	session := eval[string](p, `window.switchboardLog.session`)
	eval[bool](p, `(console.warn('task queue exceeded allotted deadline by 31ms'),
		console.error('console-error-marker', {n: 1}), console.warn('console-warn-marker'),
		setTimeout(() => { throw new Error('thrown-marker'); }), Promise.reject(new Error('rejected-marker')), true)`)
	for _, want := range []string{"console-error-marker", "console-warn-marker", "thrown-marker", "rejected-marker"} {
		deadline := time.Now().Add(10 * time.Second)
		for !hasLine(e.log.String(), want, "session="+session) {
			if time.Now().After(deadline) {
				t.Fatalf("relay log has no line with %q for session %s:\n%s", want, session, e.log.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if strings.Contains(e.log.String(), "task queue exceeded") {
		t.Errorf("xterm.js's note on a busy machine reached the relay's log as a problem:\n%s", e.log.String())
	}
	e.log.mu.Lock()
	e.log.buf.Reset() // expected reports; checkBrowserLog must not flag them
	e.log.mu.Unlock()
}

func hasLine(log string, parts ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}

func TestRunOnManyAgentsInGrid(t *testing.T) {
	e := newEnv(t, relay.Config{})
	e.startAgent("build-1", map[string]string{"pool": "ci"})
	e.startAgent("build-2", map[string]string{"pool": "ci"})
	e.startAgent("gpu-1", map[string]string{"pool": "gpu"})
	p := e.openPage("a")
	p.waitFor("three agents", `document.querySelectorAll('#agents li.agent[data-status="idle"]').length === 3`)
	p.do(chromedp.SendKeys(chromedp.ID("filter"), "pool=ci"), chromedp.Click(chromedp.ID("sel-all")))
	p.waitFor("two agents selected", `document.getElementById('run-target').textContent === 'Run on 2 agents'`)

	p.do(chromedp.SendKeys(chromedp.ID("command"), "echo \"on $((6*7))\"\r"))
	p.waitFor("two terminals", `window.switchboard.terminals.size === 2`)
	ids := eval[[]string](p, `[...window.switchboard.terminals.keys()]`)
	for _, id := range ids {
		p.waitForText(id, "on 42")
	}
	agents := eval[[]string](p, `[...window.switchboard.terminals.keys()].map(id => window.switchboard.commands.get(id).agent_name).sort()`)
	if strings.Join(agents, ",") != "build-1,build-2" {
		t.Errorf("ran on %v, want build-1 and build-2", agents)
	}

	p.do(chromedp.Click(chromedp.ID("grid")))
	p.waitFor("both terminals shown at once", `[...document.querySelectorAll('.pane')].every(p => p.offsetParent !== null)`)
	p.screenshot("grid")
}
