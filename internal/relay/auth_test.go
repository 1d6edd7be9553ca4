package relay_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/client"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/store"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/wire"
)

func dialWith(t *testing.T, r *relaytest.Relay, path string, hdr http.Header) (*rawPeer, *http.Response, error) {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(r.URL()+path, hdr)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { ws.Close() })
	return &rawPeer{t: t, ws: ws}, resp, nil
}

// dashboardAs connects a raw dashboard with a token and completes the
// handshake, or returns the relay's refusal.
func dashboardAs(t *testing.T, r *relaytest.Relay, token string) (*rawPeer, *websocket.CloseError) {
	t.Helper()
	p := dialRaw(t, r, wire.DashboardPath)
	p.send(&wire.Hello{Protocol: wire.ProtocolVersion, Client: "authtest", Token: token})
	m, err := p.next()
	if err != nil {
		t.Fatalf("dashboard hello: %v", err)
	}
	if _, ok := m.(*wire.Error); ok {
		return nil, p.expectClose()
	}
	expect[*wire.Snapshot](p)
	return p, nil
}

// agentAs registers a raw agent with a token.
func agentAs(t *testing.T, r *relaytest.Relay, token, name string) (*rawPeer, *websocket.CloseError) {
	t.Helper()
	p := dialRaw(t, r, wire.AgentPath)
	p.send(&wire.Hello{Protocol: wire.ProtocolVersion, Token: token, Agent: &wire.AgentInfo{ID: "a-" + name, Name: name, MaxConcurrent: 10}})
	m, err := p.next()
	if err != nil {
		t.Fatalf("agent hello: %v", err)
	}
	if _, ok := m.(*wire.Error); ok {
		return nil, p.expectClose()
	}
	return p, nil
}

// TestRolesOverRealConnections checks every role against every action.
func TestRolesOverRealConnections(t *testing.T) {
	r, admin := relaytest.StartAuth(t, relay.Config{})
	tokens := map[string]string{
		store.RoleAgent:    r.Token("ag", store.RoleAgent, 0),
		store.RoleViewer:   r.Token("view", store.RoleViewer, 0),
		store.RoleOperator: r.Token("ops", store.RoleOperator, 0),
		store.RoleAdmin:    admin,
	}
	// The agent endpoint takes only agent tokens; the dashboard endpoint
	// takes every other role.
	for role, tok := range tokens {
		_, ce := agentAs(t, r, tok, "probe-"+role)
		if (ce == nil) != (role == store.RoleAgent) {
			t.Errorf("%s token at /ws/agent: refusal %v", role, ce)
		}
		if ce != nil && ce.Code != wire.CloseForbidden {
			t.Errorf("%s token at /ws/agent: close %d, want %d", role, ce.Code, wire.CloseForbidden)
		}
		_, ce = dashboardAs(t, r, tok)
		if (ce == nil) != (role != store.RoleAgent) {
			t.Errorf("%s token at /ws/dashboard: refusal %v", role, ce)
		}
	}

	// A registered agent that starts whatever it is sent.
	ag, ce := agentAs(t, r, r.Token("worker-agent", store.RoleAgent, 0), "worker")
	if ce != nil {
		t.Fatal(ce)
	}
	var mu sync.Mutex
	started := map[string]bool{}
	cancels := make(chan string, 10)
	go func() {
		for {
			m, err := ag.next()
			if err != nil {
				return
			}
			if c, ok := m.(*wire.Cancel); ok {
				cancels <- c.CommandID
			}
			if s, ok := m.(*wire.Start); ok {
				mu.Lock()
				started[s.Command.ID] = true
				mu.Unlock()
				_ = ag.ws.WriteMessage(websocket.TextMessage, wire.MustEncode(&wire.Started{CommandID: s.Command.ID, StartedAt: time.Now()}))
			}
		}
	}()
	ops, _ := dashboardAs(t, r, tokens[store.RoleOperator])
	ops.send(&wire.Run{RequestID: "setup", Targets: one("worker"), CommandSpec: wire.CommandSpec{Argv: []string{"cat"}}})
	running := expect[*wire.RunAccepted](ops).Commands[0].ID
	relaytest.Eventually(t, 5*time.Second, "command started", func() bool { mu.Lock(); defer mu.Unlock(); return started[running] })
	for {
		if ev := expect[*wire.CommandEvent](ops); ev.Command.ID == running && ev.Command.State == wire.StateRunning {
			break
		}
	}

	actions := []struct {
		name    string
		allowed []string
		do      func(p *rawPeer)
	}{
		{"run", []string{store.RoleOperator, store.RoleAdmin}, func(p *rawPeer) {
			p.send(&wire.Run{RequestID: "x", Targets: one("worker"), CommandSpec: wire.CommandSpec{Argv: []string{"true"}}})
		}},
		{"input", []string{store.RoleOperator, store.RoleAdmin}, func(p *rawPeer) {
			_ = p.ws.WriteMessage(websocket.BinaryMessage, wire.InputFrame(running, []byte("x")))
			p.send(&wire.HistoryQuery{RequestID: "x", Limit: 1}) // a reply, so silence can be told from success
		}},
		{"resize", []string{store.RoleOperator, store.RoleAdmin}, func(p *rawPeer) {
			p.send(&wire.Resize{CommandID: running, Cols: 100, Rows: 30})
			p.send(&wire.HistoryQuery{RequestID: "x", Limit: 1})
		}},
		{"audit", []string{store.RoleAdmin}, func(p *rawPeer) { p.send(&wire.AuditQuery{RequestID: "x"}) }},
		{"history", []string{store.RoleViewer, store.RoleOperator, store.RoleAdmin}, func(p *rawPeer) {
			p.send(&wire.HistoryQuery{RequestID: "x"})
		}},
		{"subscribe", []string{store.RoleViewer, store.RoleOperator, store.RoleAdmin}, func(p *rawPeer) {
			p.send(&wire.Subscribe{CommandID: running})
			p.send(&wire.HistoryQuery{RequestID: "x", Limit: 1})
		}},
	}
	for _, act := range actions {
		for _, role := range []string{store.RoleViewer, store.RoleOperator, store.RoleAdmin} {
			t.Run(act.name+"/"+role, func(t *testing.T) {
				p, _ := dashboardAs(t, r, tokens[role])
				act.do(p)
				var refused bool
				for {
					m, err := p.next()
					if err != nil {
						t.Fatal(err)
					}
					if e, ok := m.(*wire.Error); ok {
						refused = e.Code == wire.CodeForbidden
						if !refused {
							t.Fatalf("unexpected error %+v", e)
						}
						break
					}
					if _, ok := m.(*wire.RunAccepted); ok {
						break
					}
					if _, ok := m.(*wire.HistoryResult); ok {
						break
					}
					if _, ok := m.(*wire.AuditResult); ok {
						break
					}
				}
				want := strings.Contains(strings.Join(act.allowed, ","), role)
				if refused == want {
					t.Errorf("%s as %s: refused=%v, want allowed=%v", act.name, role, refused, want)
				}
			})
		}
	}
	// Cancel last: a viewer may not, an operator may.
	viewer, _ := dashboardAs(t, r, tokens[store.RoleViewer])
	viewer.send(&wire.Cancel{RequestID: "v", CommandID: running})
	if e := expect[*wire.Error](viewer); e.Code != wire.CodeForbidden || !strings.Contains(e.Message, "viewer") {
		t.Errorf("viewer cancel: %+v", e)
	}
	ops.send(&wire.Cancel{RequestID: "o", CommandID: running})
	select {
	case id := <-cancels:
		if id != running {
			t.Errorf("agent got cancel for %s", id)
		}
	case <-time.After(5 * time.Second):
		t.Error("the operator's cancel did not reach the agent")
	}
}

// TestBadTokens: missing, unknown, expired and revoked tokens are refused
// with 4401 and a reason; revoking closes live connections at once.
func TestBadTokens(t *testing.T) {
	r, _ := relaytest.StartAuth(t, relay.Config{})
	expired := r.Token("short", store.RoleViewer, time.Millisecond)
	revoked := r.Token("gone", store.RoleViewer, 0)
	r.Revoke("gone")
	time.Sleep(5 * time.Millisecond)
	for name, tc := range map[string]struct{ token, words string }{
		"missing": {"", "no token"},
		"unknown": {"sbt_not-a-real-token", "unknown token"},
		"expired": {expired, "expired"},
		"revoked": {revoked, "revoked"},
	} {
		t.Run(name, func(t *testing.T) {
			_, ce := dashboardAs(t, r, tc.token)
			if ce == nil || ce.Code != wire.CloseUnauthorized || !strings.Contains(ce.Text, tc.words) {
				t.Fatalf("close %v, want %d mentioning %q", ce, wire.CloseUnauthorized, tc.words)
			}
		})
	}

	live := r.Token("live", store.RoleOperator, 0)
	p, ce := dashboardAs(t, r, live)
	if ce != nil {
		t.Fatal(ce)
	}
	began := time.Now()
	r.Revoke("live")
	e := expect[*wire.Error](p)
	if got := p.expectClose(); got.Code != wire.CloseUnauthorized || e.Code != wire.CodeUnauthorized {
		t.Fatalf("after revoke: error %+v, close %v", e, got)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("revocation took %s to close the connection", d)
	}
}

// TestOriginChecks: a page on another origin cannot open a dashboard
// socket; the relay's own origin and configured ones can.
func TestOriginChecks(t *testing.T) {
	r := relaytest.Start(t, relay.Config{AllowedOrigins: []string{"https://ops.example.com"}})
	for origin, ok := range map[string]bool{
		"https://evil.example.com": false,
		"http://" + r.Addr:         true,
		"https://ops.example.com":  true,
		"null":                     false,
	} {
		_, resp, err := dialWith(t, r, wire.DashboardPath, http.Header{"Origin": {origin}})
		if (err == nil) != ok {
			t.Errorf("origin %s: err %v, want allowed=%v", origin, err, ok)
		}
		if !ok && (resp == nil || resp.StatusCode != http.StatusForbidden) {
			t.Errorf("origin %s: response %v, want 403", origin, resp)
		}
	}
}

// TestLimits: run requests are rate limited per connection, and a token
// may hold only so many connections.
func TestLimits(t *testing.T) {
	r, _ := relaytest.StartAuth(t, relay.Config{RunsPerSecond: 5, MaxConnsPerToken: 2})
	ops := r.Token("ops", store.RoleOperator, 0)
	p, _ := dashboardAs(t, r, ops)
	for range 60 {
		p.send(&wire.Run{Targets: one("nobody"), CommandSpec: wire.CommandSpec{Argv: []string{"true"}}})
	}
	limited := 0
	for range 60 {
		if e := expect[*wire.Error](p); e.Code == wire.CodeRateLimited {
			limited++
		}
	}
	if limited < 30 {
		t.Errorf("%d of 60 runs rate limited, want most", limited)
	}
	dashboardAs(t, r, ops)
	if _, ce := dashboardAs(t, r, ops); ce == nil || ce.Code != wire.CloseTooManyConnections {
		t.Errorf("third connection: %v, want close %d", ce, wire.CloseTooManyConnections)
	}
}

// TestLoginCookieAndAudit: the browser flow (token in a POST body, an
// HttpOnly SameSite=Strict cookie, the socket authenticated by it), and an
// audit trail that records it all without a secret.
func TestLoginCookieAndAudit(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, admin := relaytest.StartAuth(t, relay.Config{Logger: logger})
	ops := r.Token("ops", store.RoleOperator, 0)

	resp, err := pagePost(r, "/api/login", `{"token":"sbt_wrong"}`)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad login: %v %v", resp, err)
	}
	resp, err = pagePost(r, "/api/login", `{"token":"`+ops+`"}`)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %v %v", resp, err)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode || cookies[0].Name != relay.SessionCookie {
		t.Fatalf("cookie %+v", cookies)
	}
	hdr := http.Header{"Cookie": {cookies[0].Name + "=" + cookies[0].Value}}
	p, _, err := dialWith(t, r, wire.DashboardPath, hdr)
	if err != nil {
		t.Fatal(err)
	}
	p.send(&wire.Hello{Protocol: wire.ProtocolVersion, Client: "browser"})
	expect[*wire.Snapshot](p)
	req, _ := http.NewRequest("GET", r.HTTPURL()+"/api/whoami", nil)
	req.Header = hdr
	who, err := http.DefaultClient.Do(req)
	if err != nil || who.StatusCode != 200 {
		t.Fatalf("whoami: %v %v", who, err)
	}

	// Some actions for the trail.
	p.send(&wire.Run{Targets: one("nobody"), CommandSpec: wire.CommandSpec{Argv: []string{"true"}}})
	expect[*wire.Error](p)
	dashboardAs(t, r, "sbt_forged")
	cl, err := client.Dial(context.Background(), client.Config{Relay: r.URL(), Token: admin})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var entries []wire.AuditEntry
	wanted := []string{"ops login ok", "ops connect ok", " auth_failure denied", "admin connect ok"}
	var joined string
	relaytest.Eventually(t, 5*time.Second, "audit entries", func() bool {
		entries, err = cl.Audit(context.Background(), 100)
		var trail []string
		for _, e := range entries {
			trail = append(trail, e.Token+" "+e.Action+" "+e.Result)
		}
		joined = strings.Join(trail, "\n")
		for _, want := range wanted {
			if !strings.Contains(joined, want) {
				return false
			}
		}
		return err == nil
	})
	for _, e := range entries {
		for _, secret := range []string{ops, admin} {
			if strings.Contains(e.Detail+e.Subject+e.Token, secret) {
				t.Errorf("audit entry holds a secret: %+v", e)
			}
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	for _, secret := range []string{ops, admin, "sbt_forged"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a token appears in the relay log")
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestTLS serves the relay over TLS with a certificate from a CA made
// here: a client trusting the CA connects over wss, one that does not is
// refused.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, cert := relaytest.ServerCert(t, dir)
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rl, err := relay.New(context.Background(), relay.Config{NoAuth: true}, st)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(rl.Handler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = rl.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; srv.Close() }()

	url := "wss://" + srv.Listener.Addr().String()
	if _, err := client.Dial(context.Background(), client.Config{Relay: url}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("dial without the CA: %v, want a certificate error", err)
	}
	dialer, err := client.TLSDialer(caFile)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.Dial(context.Background(), client.Config{Relay: url, Dialer: dialer})
	if err != nil {
		t.Fatalf("dial with the CA: %v", err)
	}
	defer cl.Close()
	if _, err := cl.History(context.Background(), wire.HistoryQuery{}); err != nil {
		t.Fatal(err)
	}
}

// pagePost posts JSON as the relay's own page does.
func pagePost(r *relaytest.Relay, path, body string) (*http.Response, error) {
	req, err := http.NewRequest("POST", r.HTTPURL()+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", r.HTTPURL())
	return http.DefaultClient.Do(req)
}
