package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"switchboard/internal/relay"
)

// waitingItem is the CSS selector of an agent's entry in "Needs you".
func waitingItem(name string) string {
	return fmt.Sprintf(`#waiting li.waiting-item[data-name=%q]`, name)
}

// runOn starts a command on an agent from the page, without opening it:
// as if someone else had started it.
func runOn(p *page, agent, shell string) {
	p.t.Helper()
	p.waitFor("agent "+agent, fmt.Sprintf(`[...window.switchboard.agents.values()].some(a => a.name === %q && a.status !== 'offline')`, agent))
	eval[bool](p, fmt.Sprintf(`(() => {
  const a = [...window.switchboard.agents.values()].find(a => a.name === %q);
  return window.switchboard.conn.send({type: 'run', request_id: 'test-run', targets: {agents: [a.id]}, shell: %q});
})()`, agent, shell))
}

func TestNeedsYouListAnswersAndOpens(t *testing.T) {
	e := newEnv(t, relay.Config{})
	e.startAgent("build-1", nil)
	e.startAgent("build-2", nil)
	p := e.openPage("a")
	p.waitFor("the empty attention list", `document.querySelector('#waiting .placeholder')?.textContent === 'Nobody is waiting for you.'`)
	if title := eval[string](p, `document.title`); title != "Switchboard" {
		t.Fatalf("title %q with nobody waiting", title)
	}

	runOn(p, "build-1", `read -p "Deploy to prod? [y/N] " a; echo "answer=$a"; sleep 1`)
	p.waitFor("build-1 in Needs you", fmt.Sprintf(`document.querySelector(%q)`, waitingItem("build-1")))
	item := waitingItem("build-1")
	if got := eval[string](p, fmt.Sprintf(`document.querySelector(%q).querySelector('.waiting-reason').textContent`, item)); got != "Deploy to prod? [y/N]" {
		t.Fatalf("reason %q", got)
	}
	p.waitFor("the count in the tab's title", `document.title === '(1) Switchboard'`)
	p.waitFor("the agent list marking it", `document.querySelector('#agents li.agent[data-name="build-1"]')`)

	runOn(p, "build-2", `python3 -c 'input("Name? ")'`)
	p.waitFor("two waiting", `document.title === '(2) Switchboard' && document.querySelectorAll('#waiting li.waiting-item').length === 2`)
	if first := eval[string](p, `document.querySelector('#waiting li.waiting-item').dataset.name`); first != "build-1" {
		t.Fatalf("the one waiting longest should come first, got %s", first)
	}

	// Next waiting opens build-1's command, then build-2's.
	p.do(chromedp.Click(chromedp.ID("next-waiting")))
	id1 := eval[string](p, fmt.Sprintf(`document.querySelector(%q).dataset.command`, item))
	p.waitFor("build-1's terminal open", fmt.Sprintf(`window.switchboard.state.active === %q`, id1))
	p.waitForText(id1, "Deploy to prod? [y/N]")
	p.do(chromedp.Click(chromedp.ID("next-waiting")))
	id2 := eval[string](p, fmt.Sprintf(`document.querySelector(%q).dataset.command`, waitingItem("build-2")))
	p.waitFor("build-2's terminal open", fmt.Sprintf(`window.switchboard.state.active === %q`, id2))

	// A quick reply answers build-1 without typing into its terminal.
	p.do(chromedp.Click(chromedp.CSS(item + ` button.reply[data-key="y"]`)))
	p.waitForText(id1, "answer=y")
	p.waitFor("build-1 out of Needs you", fmt.Sprintf(`!document.querySelector(%q)`, item))
	p.waitFor("one waiting", `document.title === '(1) Switchboard'`)
	// A typed line, sent with Enter.
	p.do(chromedp.SendKeys(chromedp.CSS(waitingItem("build-2")+" input.reply-text"), "Ada\r"))
	p.waitFor("build-2 to end", fmt.Sprintf(`window.switchboard.commands.get(%q)?.state === 'exited'`, id2))
	p.waitFor("nobody waiting", `document.title === 'Switchboard' && document.querySelector('#waiting .placeholder')`)
	p.screenshot("attention-desktop")
}

// Once the user allows notifications, an agent that starts waiting pops
// one up; before that, the page offers to enable them.
func TestDesktopNotificationWhenAnAgentStartsWaiting(t *testing.T) {
	e := newEnv(t, relay.Config{})
	e.startAgent("build-1", nil)
	p := e.openPage("a")
	if eval[string](p, `Notification.permission`) == "default" {
		p.waitFor("the offer to enable notifications", `!document.getElementById('notify-enable').hidden`)
	}
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"}, Setting: cdpbrowser.PermissionSettingGranted,
			Origin: e.relay.HTTPURL()})
		return err
	}))
	p.waitFor("permission granted", `Notification.permission === 'granted'`)
	eval[bool](p, `(() => {
  window.__notes = [];
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, opts) { super(title, opts); window.__notes.push(title + ' | ' + (opts?.body ?? '')); }
  };
  return true;
})()`)
	runOn(p, "build-1", `read -p "Ship it? " a`)
	p.waitFor("a notification", `window.__notes.length === 1`)
	if got := eval[string](p, `window.__notes[0]`); got != "build-1 is waiting | Ship it?" {
		t.Fatalf("notification %q", got)
	}
}

// On a phone (360×740), Needs you comes first, its quick replies fit and
// work, nothing scrolls sideways, and a terminal is readable.
func TestPhoneLayout(t *testing.T) {
	e := newEnv(t, relay.Config{})
	e.startAgent("phone-box", nil)
	p := e.openPage("phone")
	p.do(chromedp.EmulateViewport(360, 740, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	runOn(p, "phone-box", `read -p "Merge the pull request? [y/N] " a; echo "merged=$a"; sleep 2`)
	item := waitingItem("phone-box")
	p.waitFor("the waiting agent", fmt.Sprintf(`document.querySelector(%q)`, item))

	layout := eval[map[string]float64](p, fmt.Sprintf(`(() => {
  const r = (q) => document.querySelector(q).getBoundingClientRect();
  const y = r(%q + ' button.reply[data-key="y"]');
  return {
    attentionTop: r('#attention').top, agentsTop: r('.panel-agents').top, workTop: r('.work').top,
    replyBottom: y.bottom, replyRight: y.right, replyHeight: y.height,
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
  };
})()`, item))
	switch {
	case layout["innerWidth"] != 360:
		t.Fatalf("viewport is %v wide, not 360", layout["innerWidth"])
	case layout["scrollWidth"] > 360:
		t.Errorf("the page scrolls sideways: %v wide", layout["scrollWidth"])
	case layout["attentionTop"] >= layout["agentsTop"] || layout["attentionTop"] > 100:
		t.Errorf("Needs you is not first: %+v", layout)
	case layout["replyBottom"] > 740 || layout["replyRight"] > 360 || layout["replyHeight"] < 28:
		t.Errorf("the quick reply button is off screen or too small to tap: %+v", layout)
	}
	p.screenshot("attention-phone")

	p.do(chromedp.Click(chromedp.CSS(item + " button.waiting-open")))
	id := eval[string](p, fmt.Sprintf(`document.querySelector(%q).dataset.command`, item))
	p.waitFor("its terminal", fmt.Sprintf(`window.switchboard.state.active === %q`, id))
	p.waitForText(id, "Merge the pull request?")
	pane := eval[map[string]float64](p, fmt.Sprintf(`(() => {
  const t = window.switchboard.terminals.get(%q);
  const r = t.pane.getBoundingClientRect();
  return {left: r.left, right: r.right, top: r.top, height: r.height, cols: t.term.cols, rows: t.term.rows};
})()`, id))
	if pane["left"] < 0 || pane["right"] > 360 || pane["top"] > 740 || pane["height"] < 200 || pane["cols"] < 30 || pane["rows"] < 8 {
		t.Errorf("the terminal is not readable on a phone: %+v", pane)
	}
	p.do(chromedp.Click(chromedp.CSS(item + ` button.reply[data-key="y"]`)))
	p.waitForText(id, "merged=y")
	p.screenshot("attention-phone-answered")
	if s := eval[string](p, `document.body.innerText`); !strings.Contains(s, "Nobody is waiting") && !strings.Contains(s, "phone-box") {
		t.Errorf("page text %q", s)
	}
}
