package web_test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"switchboard/internal/relay"
)

// TestStopAndRestartSessionFromPage: Stop asks before it stops a session,
// and Restart session starts it again, in a pane of its own.
func TestStopAndRestartSessionFromPage(t *testing.T) {
	e := newEnv(t, relay.Config{})
	e.startSession("sess", "sh", "-c", "printf 'READY\\r\\n'; exec cat")
	p := e.openPage("a")
	item := `#commands li.cmd[data-state="running"]`
	p.waitFor("the session in the command list", fmt.Sprintf(`document.querySelector(%q)`, item))
	old := eval[string](p, fmt.Sprintf(`document.querySelector(%q).dataset.id`, item))
	p.do(chromedp.Click(chromedp.CSS(item + " button")))
	p.waitForText(old, "READY")
	state := func(id string) string { return fmt.Sprintf(`window.switchboard.commands.get(%q)?.state`, id) }
	question := `document.querySelector('.pane.active .pane-ask-q')?.textContent`

	p.do(chromedp.Click(chromedp.CSS(".pane.active .pane-cancel")))
	p.waitFor("the question", question+` === 'Stop the session of sess? It runs again only when restarted.'`)
	p.do(chromedp.Click(chromedp.CSS(".pane.active .pane-no")))
	p.waitFor("the question gone", `document.querySelector('.pane.active .pane-ask').hidden`)
	if s := p.commandState(old); s != "running" {
		t.Fatalf("the session is %s after Keep it", s)
	}

	p.do(chromedp.Click(chromedp.CSS(".pane.active .pane-restart")))
	p.waitFor("the restart question", question+` === 'Restart the session of sess? The running one is stopped first.'`)
	p.do(chromedp.Click(chromedp.CSS(".pane.active .pane-yes")))
	p.waitFor("the old session to end", state(old)+` === 'cancelled'`)
	p.waitFor("the new session's pane", `window.switchboard.terminals.size === 2`)
	fresh := eval[string](p, `[...window.switchboard.terminals.keys()][1]`)
	p.waitFor("the new session running", state(fresh)+` === 'running'`)
	p.waitForText(fresh, "READY")
}
