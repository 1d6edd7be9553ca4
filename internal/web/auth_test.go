package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"switchboard/internal/client"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/store"
)

func TestSignInWithToken(t *testing.T) {
	e := newAuthEnv(t, relay.Config{})
	e.startAgent("build-1", nil, e.relay.Token("agent-build-1", store.RoleAgent, 0))
	operator := e.relay.Token("ops", store.RoleOperator, 0)
	viewer := e.relay.Token("watcher", store.RoleViewer, 0)

	p := e.newPage("a")
	loginShown := `!document.getElementById('login').hidden`
	p.waitFor("the sign-in form", loginShown)
	if banner := eval[string](p, `document.getElementById('conn-text').textContent`); banner != "○ Signed out" {
		t.Errorf("banner says %q while signed out", banner)
	}
	p.screenshot("login")

	// A wrong token is refused with the relay's reason.
	p.do(chromedp.SendKeys(chromedp.ID("token"), "sbt_wrong\r"))
	p.waitFor("the refusal", `!document.getElementById('login-error').hidden`)
	if msg := eval[string](p, `document.getElementById('login-error').textContent`); !strings.Contains(msg, "unknown token") {
		t.Errorf("refusal says %q", msg)
	}

	// An operator signs in and runs a command.
	p.do(chromedp.SendKeys(chromedp.ID("token"), strings.Repeat("\b", len("sbt_wrong"))+operator+"\r"))
	p.waitFor("the page to connect", `document.getElementById('conn').classList.contains('conn-connected')`)
	if who := eval[string](p, `document.getElementById('who-text').textContent`); who != "ops · operator" {
		t.Errorf("signed in as %q, want ops · operator", who)
	}
	p.selectAgent("build-1")
	id := p.run("echo signed-in")
	p.waitForText(id, "signed-in")

	// Signing out closes the connection; a viewer may watch but not run.
	p.do(chromedp.Click(chromedp.ID("logout")))
	p.waitFor("the sign-in form again", loginShown)
	p.do(chromedp.SendKeys(chromedp.ID("token"), viewer+"\r"))
	p.waitFor("the page to connect as a viewer", `document.getElementById('conn').classList.contains('conn-connected')`)
	p.waitFor("the terminal to show the output again", `window.switchboard.terminals.size === 1`)
	p.waitForText(id, "signed-in")
	p.waitFor("the selection kept", `document.querySelector('#agents li.agent[data-name="build-1"] input')?.checked`)
	if !eval[bool](p, `document.getElementById('run').disabled && document.getElementById('command').disabled`) {
		t.Errorf("a viewer can use the command line")
	}
	if label := eval[string](p, `document.getElementById('run-target').textContent`); label != "Read-only: role viewer" {
		t.Errorf("run label for a viewer is %q", label)
	}

	// Revoking the token closes the page's connection and asks for a token.
	e.relay.Revoke("watcher")
	p.waitForWithin(10*time.Second, "the sign-in form after revocation", loginShown)
	if msg := eval[string](p, `document.getElementById('login-error').textContent`); !strings.Contains(msg, "revoked") {
		t.Errorf("after revocation the page says %q", msg)
	}
}

// signInLink is a one-time sign-in link for a new operator token named
// name, asked of relay r by a client signed in with it.
func signInLink(t *testing.T, r *relaytest.Relay, name string) string {
	t.Helper()
	cl, err := client.Dial(context.Background(), client.Config{Relay: r.URL(), Token: r.Token(name, store.RoleOperator, 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	link, _, err := cl.SignIn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return link
}

// TestSignInLink: a one-time link (what make run prints, and the TUI's
// help) signs the page in without a token being typed or put in a URL;
// the page takes the code out of its address, and a second use of the
// link is refused, saying why.
func TestSignInLink(t *testing.T) {
	e := newAuthEnv(t, relay.Config{})
	link := signInLink(t, e.relay, "linker")
	p := e.newPageAt("a", link)
	p.waitFor("the page to connect", `document.getElementById('conn').classList.contains('conn-connected')`)
	if who := eval[string](p, `document.getElementById('who-text').textContent`); who != "linker · operator" {
		t.Errorf("signed in as %q, want linker · operator", who)
	}
	if addr := eval[string](p, `location.href`); strings.Contains(addr, "signin") {
		t.Errorf("the page kept the code in its address: %s", addr)
	}
	again := e.newPageAt("b", link)
	again.waitFor("the sign-in form", `!document.getElementById('login').hidden && !document.getElementById('login-error').hidden`)
	if msg := eval[string](again, `document.getElementById('login-error').textContent`); !strings.Contains(msg, "used already") {
		t.Errorf("second use of the link: the page says %q", msg)
	}
}

// TestSignedInScopeShown: a scoped token's user is told which agents
// they see, on sign-in and after a reload (whoami).
func TestSignedInScopeShown(t *testing.T) {
	e := newAuthEnv(t, relay.Config{})
	scoped := e.relay.ScopedToken("ci-ops", store.RoleOperator, map[string]string{"pool": "ci", "arch": "arm"})
	p := e.newPage("a")
	p.waitFor("the sign-in form", `!document.getElementById('login').hidden`)
	p.do(chromedp.SendKeys(chromedp.ID("token"), scoped+"\r"))
	p.waitFor("the page to connect", `document.getElementById('conn').classList.contains('conn-connected')`)
	const want = "ci-ops · operator · only arch=arm, pool=ci"
	if who := eval[string](p, `document.getElementById('who-text').textContent`); who != want {
		t.Errorf("signed in as %q, want %q", who, want)
	}
	p.do(chromedp.Reload())
	p.waitFor("the page to connect again", `document.getElementById('conn').classList.contains('conn-connected')`)
	if who := eval[string](p, `document.getElementById('who-text').textContent`); who != want {
		t.Errorf("after a reload: %q, want %q", who, want)
	}
}
