package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"switchboard/internal/relay"
)

// queryingSession is a session whose program asks its terminal everything
// a terminal answers by itself (device attributes, status and cursor
// reports, colours, modes, settings, window size) and turns on focus
// reports, then shows every byte it reads (cat -v in a raw terminal).
// Nobody watches while it asks: the queries reach a dashboard only as
// replayed output.
var queryingSession = []string{"sh", "-c", `printf '\033[c\033[>c\033[=c\033[5n\033[6n\033[?6n\033]10;?\007\033]11;?\033\\\033]4;1;?\007\033]12;?\007\033[?2004$p\033[4$p\033P$qm\033\\\033[18t\033[14t\033[?1004h'; ` +
	`stty raw -echo; printf 'READY\r\n'; exec cat -v`}

// TestPageNeverAnswersReplayedQueries opens a session whose output holds
// terminal queries: the page shows it and sends nothing, and the first
// byte the program reads is the key a person pressed.
func TestPageNeverAnswersReplayedQueries(t *testing.T) {
	e := newEnv(t, relay.Config{})
	e.startSession("sess", queryingSession...)
	p := e.openPage("a")
	item := `#commands li.cmd[data-state="running"]`
	p.waitFor("the session in the command list", fmt.Sprintf(`document.querySelector(%q)`, item))
	id := eval[string](p, fmt.Sprintf(`document.querySelector(%q).dataset.id`, item))
	p.do(chromedp.Click(chromedp.CSS(item + " button")))
	p.waitForText(id, "READY")
	term := fmt.Sprintf(`window.switchboard.terminals.get(%q)`, id)
	p.waitFor("the replay parsed", term+`.pending === 0`)

	// A person clicks into the terminal and presses Z. Anything the page
	// sent by itself went out on the same connection before it.
	p.do(chromedp.Click(chromedp.CSS(".pane.active .xterm-screen")), typeKeys("Z"))
	p.waitForText(id, "Z")
	text := p.terminalText(id)
	after := strings.TrimSpace(text[strings.Index(text, "READY")+len("READY"):])
	if after != "Z" {
		t.Fatalf("the program read %q after READY; want only the Z a person typed", after)
	}
}
