package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"switchboard/internal/relay"
)

// TestSearchInTheBrowser: the page's search box finds a line a real
// agent's command printed, with its context, and the result opens the
// command's pane starting at that line; a bad query shows the relay's
// reason.
func TestSearchInTheBrowser(t *testing.T) {
	e := newEnv(t, relay.Config{})
	e.startAgent("s-box", nil)
	p := e.openPage("a")
	p.selectAgent("s-box")
	p.waitFor("the run button to be enabled", `!document.getElementById('run').disabled`)
	id := p.run("seq 1 2000; echo needle-$((6*7)) here; seq 5001 5003")
	p.waitFor("the command to end", fmt.Sprintf(`window.switchboard.commands.get(%q)?.state === 'exited'`, id))

	search := func(q string) string {
		eval[bool](p, fmt.Sprintf(`(() => {
  document.getElementById('search-q').value = %q;
  document.getElementById('search-form').requestSubmit();
  return true;
})()`, q))
		p.waitFor("the search's answer", `document.getElementById('search-status').textContent !== 'Searching…'`)
		return eval[string](p, `document.getElementById('search-status').textContent`)
	}
	deadline := time.Now().Add(30 * time.Second)
	for search("needle") != "1 lines, newest first" {
		if time.Now().After(deadline) {
			t.Fatalf("the line was not found: %q", eval[string](p, `document.getElementById('search-status').textContent`))
		}
		time.Sleep(200 * time.Millisecond)
	}
	hit := eval[[]string](p, `[...document.querySelectorAll('#search-results .search-hit span')].map((s) => s.className + ':' + s.textContent)`)
	want := []string{"search-ctx:2000", "search-line:needle-42 here", "search-ctx:5001"}
	if len(hit) != 4 || !strings.HasPrefix(hit[0], "search-meta:s-box · seq 1 2000") || strings.Join(hit[1:], "|") != strings.Join(want, "|") {
		t.Fatalf("the hit shows %q", hit)
	}
	p.screenshot("search")

	// The hit opens the pane at its line: nothing before it is shown.
	p.do(chromedp.Click(chromedp.CSS("#search-results .search-hit")))
	p.waitFor("the pane opened anew", fmt.Sprintf(`window.switchboard.terminals.get(%q)?.subscribedFrom > 0`, id))
	p.waitForText(id, "5003")
	text := p.terminalText(id)
	if !strings.Contains(text, "the search hit") || !strings.Contains(text, "needle-42 here\n5001") || strings.Contains(text, "1999") {
		t.Fatalf("the pane opened at the hit shows:\n%s", text)
	}

	if got := search(`"needle`); !strings.Contains(got, "not closed") {
		t.Fatalf("a bad query shows %q", got)
	}
	if got := search("haystack"); got != "No line matches." {
		t.Fatalf("a query matching nothing shows %q", got)
	}
	e.checkBrowserLog()
}
