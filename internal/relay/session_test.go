package relay_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// browser is an HTTP client with a cookie jar, as a browser keeps cookies.
type browser struct {
	t   *testing.T
	r   *relaytest.Relay
	jar *cookiejar.Jar
	c   *http.Client
}

func newBrowser(t *testing.T, r *relaytest.Relay) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, r: r, jar: jar, c: &http.Client{Jar: jar}}
}

// post sends body to path with the given Origin and Content-Type, and
// returns the status and the decoded JSON reply.
func (b *browser) post(path, origin, ctype, body string) (int, map[string]any) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.r.HTTPURL()+path, strings.NewReader(body))
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var reply map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&reply)
	return resp.StatusCode, reply
}

// login signs in as the page does.
func (b *browser) login(body string) (int, map[string]any) {
	return b.post("/api/login", b.r.HTTPURL(), "application/json", body)
}

func (b *browser) cookie() string {
	u, _ := url.Parse(b.r.HTTPURL())
	for _, c := range b.jar.Cookies(u) {
		if c.Name == relay.SessionCookie {
			return c.Value
		}
	}
	return ""
}

func (b *browser) whoami() int {
	b.t.Helper()
	resp, err := b.c.Get(b.r.HTTPURL() + "/api/whoami")
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// dashboard opens the page's WebSocket with the browser's cookie.
func (b *browser) dashboard() *rawPeer {
	b.t.Helper()
	hdr := http.Header{"Origin": {b.r.HTTPURL()}, "Cookie": {relay.SessionCookie + "=" + b.cookie()}}
	ws, _, err := websocket.DefaultDialer.Dial(b.r.URL()+wire.DashboardPath, hdr)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { ws.Close() })
	p := &rawPeer{t: b.t, ws: ws}
	p.send(&wire.Hello{Protocol: wire.ProtocolVersion, Client: "page"})
	expect[*wire.Snapshot](p)
	return p
}

// TestLoginCSRF: another site cannot sign a visitor in (login CSRF) or out
// (forced logout) with a form post or a cross-origin request; only the
// relay's own page, posting JSON, can.
func TestLoginCSRF(t *testing.T) {
	r, admin := relaytest.StartAuth(t, relay.Config{})
	body := `{"token":"` + admin + `"}`
	form := "token=" + url.QueryEscape(admin)
	b := newBrowser(t, r)
	for _, tt := range []struct{ name, origin, ctype, body string }{
		{"a form on another site", "https://evil.example", "application/x-www-form-urlencoded", form},
		{"a text/plain post from another site", "https://evil.example", "text/plain", body},
		{"JSON from another site", "https://evil.example", "application/json", body},
		{"no Origin", "", "application/json", body},
		{"a form from the relay's own origin", r.HTTPURL(), "application/x-www-form-urlencoded", form},
	} {
		if code, _ := b.post("/api/login", tt.origin, tt.ctype, tt.body); code != http.StatusForbidden || b.cookie() != "" {
			t.Errorf("login by %s: HTTP %d, cookie %q; want 403 and none", tt.name, code, b.cookie())
		}
	}
	if code, _ := b.login(body); code != http.StatusOK || b.cookie() == "" {
		t.Fatalf("login from the page: HTTP %d", code)
	}
	for _, origin := range []string{"https://evil.example", ""} {
		if code, _ := b.post("/api/logout", origin, "application/x-www-form-urlencoded", ""); code != http.StatusForbidden {
			t.Errorf("logout from origin %q: HTTP %d, want 403", origin, code)
		}
	}
	if code := b.whoami(); code != http.StatusOK {
		t.Errorf("after the refused logouts: whoami HTTP %d, want 200 (still signed in)", code)
	}
}

// TestSessionCookie: the cookie holds a session id, never the token; the
// session ends with logout (closing the page's live connection), with its
// token's revocation, and when it expires.
func TestSessionCookie(t *testing.T) {
	r, admin := relaytest.StartAuth(t, relay.Config{SessionTTL: 3 * time.Second})
	b := newBrowser(t, r)
	if code, _ := b.login(`{"token":"` + admin + `"}`); code != http.StatusOK {
		t.Fatalf("login: HTTP %d", code)
	}
	if c := b.cookie(); c == "" || strings.Contains(c, admin) || strings.Contains(admin, c) || !strings.HasPrefix(c, "sbs_") {
		t.Fatalf("cookie %q: want a session id, not the token", c)
	}
	// The cookie is no token: it does not authenticate a hello.
	if _, ce := dashboardAs(t, r, b.cookie()); ce == nil || ce.Code != wire.CloseUnauthorized {
		t.Errorf("the cookie value as a token: %v, want 4401", ce)
	}

	live := b.dashboard()
	if code, _ := b.post("/api/logout", r.HTTPURL(), "application/json", "{}"); code != http.StatusNoContent {
		t.Fatalf("logout: HTTP %d", code)
	}
	if ce := live.expectClose(); ce.Code != wire.CloseUnauthorized {
		t.Errorf("the page's connection at logout: close %d, want 4401", ce.Code)
	}
	if code := b.whoami(); code != http.StatusUnauthorized {
		t.Errorf("whoami after logout: HTTP %d, want 401", code)
	}

	// Revoking the token ends its sessions, live or not.
	ops := r.Token("ops", store.RoleOperator, 0)
	b2 := newBrowser(t, r)
	if code, _ := b2.login(`{"token":"` + ops + `"}`); code != http.StatusOK {
		t.Fatalf("login: HTTP %d", code)
	}
	live = b2.dashboard()
	r.Revoke("ops")
	if ce := live.expectClose(); ce.Code != wire.CloseUnauthorized {
		t.Errorf("the page's connection when its token was revoked: close %d, want 4401", ce.Code)
	}
	if code := b2.whoami(); code != http.StatusUnauthorized {
		t.Errorf("whoami after revocation: HTTP %d, want 401", code)
	}

	// A session expires, and its live connection with it.
	b3 := newBrowser(t, r)
	if code, _ := b3.login(`{"token":"` + admin + `"}`); code != http.StatusOK {
		t.Fatalf("login: HTTP %d", code)
	}
	live = b3.dashboard()
	_ = live.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if ce := live.expectClose(); ce.Code != wire.CloseUnauthorized {
		t.Errorf("the page's connection when its session expired: close %d, want 4401", ce.Code)
	}
	if code := b3.whoami(); code != http.StatusUnauthorized {
		t.Errorf("whoami after expiry: HTTP %d, want 401", code)
	}
}

// TestSignInLink: a dashboard gets a one-time code for its own token; the
// page signs in with it once, and never sees the token.
func TestSignInLink(t *testing.T) {
	r, _ := relaytest.StartAuth(t, relay.Config{})
	viewer := r.Token("watcher", store.RoleViewer, 0)
	cl := dialAdmin(t, r, viewer)
	link, expires, err := cl.SignIn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, r.HTTPURL()+"/#signin=sbc_") || strings.Contains(link, viewer) {
		t.Fatalf("link %q", link)
	}
	if d := time.Until(expires); d <= 0 || d > 11*time.Minute {
		t.Errorf("link expires in %s, want about 10 minutes", d)
	}
	code := link[strings.Index(link, "=")+1:]
	b := newBrowser(t, r)
	status, reply := b.login(`{"code":"` + code + `"}`)
	if status != http.StatusOK || reply["name"] != "watcher" || reply["role"] != store.RoleViewer {
		t.Fatalf("sign in with the link: HTTP %d %v", status, reply)
	}
	b.dashboard()
	again := newBrowser(t, r)
	if status, reply := again.login(`{"code":"` + code + `"}`); status != http.StatusUnauthorized || !strings.Contains(reply["error"].(string), "used already") {
		t.Errorf("the link used a second time: HTTP %d %v, want 401", status, reply)
	}
}
