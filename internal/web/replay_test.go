package web_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"switchboard/internal/relay"
)

// TestReplayInTheBrowser: a finished command's Replay button plays its
// recording (the asciicast endpoint) in its pane at its recorded times;
// the progress bar seeks where it is clicked, ±10 s, pause, speed and
// the idle limit work; typing into the replay sends nothing to the
// relay; closing it shows the command's terminal again.
func TestReplayInTheBrowser(t *testing.T) {
	e := newEnv(t, relay.Config{})
	e.startAgent("rp-box", nil)
	p := e.openPage("a")
	p.selectAgent("rp-box")
	p.waitFor("the run button to be enabled", `!document.getElementById('run').disabled`)
	id := p.run("echo out-$((1+1)); sleep 1; echo out-$((2+2)); sleep 3; echo out-$((3+3))")
	p.waitFor("the command to end", fmt.Sprintf(`window.switchboard.commands.get(%q)?.state === 'exited'`, id))

	// Record what the page sends from now on.
	eval[bool](p, `(() => {
  window.__sent = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (d) {
    window.__sent.push(typeof d === 'string' ? JSON.parse(d).type : 'binary');
    return send.call(this, d);
  };
  return true;
})()`)
	pane := fmt.Sprintf(`[id="pane-%s"]`, id)
	r := fmt.Sprintf(`window.switchboard.terminals.get(%q).replay`, id)
	p.waitFor("the Replay button", fmt.Sprintf(`!document.querySelector('%s .pane-replay').hidden`, pane))
	p.do(chromedp.Click(chromedp.CSS(pane + " .pane-replay")))

	// It plays at the recorded times: out-4 a second after out-2, out-6
	// three seconds after that.
	p.waitFor("out-2 replayed", r+`?.text().includes('out-2')`)
	if eval[bool](p, r+`.text().includes('out-6')`) {
		t.Fatalf("out-6 replayed at once:\n%s", eval[string](p, r+".text()"))
	}
	p.waitFor("out-4 replayed", r+`.text().includes('out-4')`)
	if pos := eval[float64](p, r+".pos"); pos < 900 || pos > 3000 {
		t.Errorf("out-4 shown at %v ms of the recording, recorded at about 1000", pos)
	}
	p.waitForWithin(10*time.Second, "the replay's end", r+`.text().includes('out-6') && !`+r+`.playing`)
	if d := eval[float64](p, r+".duration"); d < 3900 || d > 5000 {
		t.Errorf("the recording lasts %v ms, the command about 4000", d)
	}
	p.screenshot("replay")
	shown := eval[string](p, fmt.Sprintf(`document.querySelector('%s .replay-time').textContent`, pane))
	if !regexp.MustCompile(`^0:04\.\d / 0:04\.\d$`).MatchString(shown) { // the command took 4 s and a little
		t.Errorf("time shown %q", shown)
	}

	// Seek with the progress bar: a click at 10% of it.
	p.clickAt(pane+" .replay-progress", 0.1)
	p.waitFor("the seek back", r+`.pos < 1000 && `+r+`.text().includes('out-2') && !`+r+`.text().includes('out-4')`)
	p.do(chromedp.Click(chromedp.CSS(pane + " .replay-fwd")))
	p.waitFor("+10 s to the end", r+`.pos === `+r+`.duration && `+r+`.text().includes('out-6')`)
	p.do(chromedp.Click(chromedp.CSS(pane + " .replay-back")))
	p.waitFor("−10 s to the start", r+`.pos === 0 && !`+r+`.text().includes('out-4')`)

	// Play, pause: the position holds.
	p.do(chromedp.Click(chromedp.CSS(pane + " .replay-play")))
	p.waitFor("playing", r+".playing && "+r+".pos > 0")
	p.do(chromedp.Click(chromedp.CSS(pane + " .replay-play")))
	held := eval[float64](p, r+".pos")
	p.do(chromedp.Sleep(400 * time.Millisecond))
	if now := eval[float64](p, r+".pos"); now != held || eval[bool](p, r+".playing") {
		t.Errorf("paused at %v ms, then at %v", held, now)
	}

	// 16x plays the 4 s in about a quarter of a second.
	p.choose(pane+" .replay-speed", "16")
	p.do(chromedp.Click(chromedp.CSS(pane + " .replay-play")))
	p.waitForWithin(3*time.Second, "the end at 16x", r+`.text().includes('out-6') && !`+r+`.playing`)

	// Pauses cut to 0.5 s: about 1 s in all.
	p.choose(pane+" .replay-idle", "0.5")
	if d := eval[float64](p, r+".duration"); d < 900 || d > 1500 {
		t.Errorf("with pauses cut to 0.5 s the recording lasts %v ms", d)
	}

	// Typing into the replay sends nothing.
	p.do(chromedp.Click(chromedp.CSS(pane+" .replay-term"), chromedp.NodeVisible), typeKeys("abc\r"))
	p.do(chromedp.Sleep(300 * time.Millisecond))
	if sent := eval[[]string](p, `window.__sent`); len(sent) > 0 {
		t.Errorf("the page sent %v during the replay", sent)
	}

	// Keys: space plays (from the start, at the end), → seeks 10 s on.
	p.choose(pane+" .replay-speed", "1")
	p.do(chromedp.Click(chromedp.CSS(pane+" .replay-term"), chromedp.NodeVisible), typeKeys(" "))
	p.waitFor("space to play", r+".playing || "+r+".pos < "+r+".duration")
	p.do(chromedp.KeyEvent(kb.ArrowRight))
	p.waitFor("→ to the end", r+".pos === "+r+".duration && !"+r+".playing")
	if sent := eval[[]string](p, `window.__sent`); len(sent) > 0 {
		t.Errorf("the page sent %v during the replay", sent)
	}

	p.do(chromedp.Click(chromedp.CSS(pane + " .replay-close")))
	p.waitFor("the terminal again", fmt.Sprintf(`!document.querySelector('%s .replay') && !document.querySelector('%s').classList.contains('replaying')`, pane, pane))
	p.waitForText(id, "out-6")
}

// TestReplayOfAnUnknownCommandSaysSo: a replay whose recording cannot be
// fetched says why, and one too large to hold is refused before it is
// fetched.
func TestReplayOfAnUnknownCommandSaysSo(t *testing.T) {
	e := newEnv(t, relay.Config{})
	p := e.openPage("a")
	eval[bool](p, `(() => {
  import('./replay.js').then(async ({ Replay }) => {
    const host = document.createElement('div');
    document.body.append(host);
    const r = new Replay('c-nope', host, () => {});
    await r.load();
    const big = new Replay('c-big', host, () => {});
    await big.load(65 << 20);
    window.__replayText = host.querySelector('.replay-time').textContent + ' | ' +
      host.querySelectorAll('.replay-time')[1].textContent;
    r.dispose();
    big.dispose();
  });
  return true;
})()`)
	p.waitFor("the replay's answer", "window.__replayText")
	got := eval[string](p, "window.__replayText")
	if !strings.Contains(got, "Cannot replay: 404") || !strings.Contains(got, "65 MiB of output is more than the page replays (64 MiB)") {
		t.Errorf("replays of an unknown and a huge command say %q", got)
	}
}

// clickAt clicks the element at frac of its width, halfway down.
func (p *page) clickAt(sel string, frac float64) {
	p.t.Helper()
	xy := eval[[]float64](p, fmt.Sprintf(`(() => {
  const b = document.querySelector(%q).getBoundingClientRect();
  return [b.left + b.width * %g, b.top + b.height / 2];
})()`, sel, frac))
	p.do(chromedp.MouseClickXY(xy[0], xy[1]))
}

// choose picks a value in a select, as a user does.
func (p *page) choose(sel, value string) {
	p.t.Helper()
	eval[bool](p, fmt.Sprintf(`(() => {
  const s = document.querySelector(%q);
  s.value = %q;
  s.dispatchEvent(new Event('change', { bubbles: true }));
  return s.value === %q;
})()`, sel, value, value))
}

// TestReplaySeekOverMegabytesWritesItsTail: a seek over megabytes of
// output gives xterm.js only its last part, which draws the screen.
func TestReplaySeekOverMegabytesWritesItsTail(t *testing.T) {
	e := newEnv(t, relay.Config{})
	p := e.openPage("a")
	eval[bool](p, `(() => {
  import('./replay.js').then(({ Replay }) => {
    const host = document.createElement('div');
    document.body.append(host);
    const r = new Replay('c-big', host, () => {});
    let s = '';
    for (let i = 0; s.length < 3 << 20; i++) s += 'line ' + i + ' ' + 'x'.repeat(60) + '\r\n';
    r.events = [{ t: 0, data: s + 'the last line\r\n' }];
    r.build();
    r.seek(0);
    r.term.write('', () => {
      window.__tail = { last: r.text().includes('the last line'), lines: r.term.buffer.active.length };
      r.dispose();
    });
  });
  return true;
})()`)
	p.waitFor("the replay to parse", "window.__tail")
	if !eval[bool](p, "window.__tail.last") {
		t.Fatalf("the last line is not on screen")
	}
	if n := eval[int](p, "window.__tail.lines"); n > 5000 {
		t.Errorf("xterm.js holds %d lines: it parsed more than the tail", n)
	}
}
