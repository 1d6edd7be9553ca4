package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"switchboard/internal/auth"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// SessionCookie carries a browser's token after it logs in at /api/login.
const SessionCookie = "switchboard_session"

// tokenPoll is how often the relay looks for tokens created or revoked by
// another process (relay token …) and for tokens that expired.
const tokenPoll = 500 * time.Millisecond

// principal is who a connection acts as.
type principal struct {
	token  string // token name
	role   string
	remote string // IP address
}

// tokens is the relay's view of the token table, reloaded when it changes.
type tokens struct {
	store store.Auth // nil when authentication is off

	mu      sync.RWMutex
	list    []store.Token
	version int64
	loaded  bool
}

// refresh reloads the tokens if the table changed; it reports whether it did.
func (t *tokens) refresh(ctx context.Context) (bool, error) {
	v, err := t.store.TokensChanged(ctx)
	if err != nil {
		return false, err
	}
	t.mu.RLock()
	same := t.loaded && v == t.version
	t.mu.RUnlock()
	if same {
		return false, nil
	}
	list, err := t.store.Tokens(ctx)
	if err != nil {
		return false, err
	}
	t.mu.Lock()
	t.list, t.version, t.loaded = list, v, true
	t.mu.Unlock()
	return true, nil
}

// check returns the valid token a secret belongs to.
func (t *tokens) check(ctx context.Context, secret string, now time.Time) (store.Token, error) {
	if secret == "" {
		return store.Token{}, errors.New("no token given: pass one in hello.token (or log in, in a browser)")
	}
	if _, err := t.refresh(ctx); err != nil {
		return store.Token{}, fmt.Errorf("check token: %w", err)
	}
	t.mu.RLock()
	tok, ok := auth.Match(t.list, secret)
	t.mu.RUnlock()
	switch {
	case !ok:
		return store.Token{}, errors.New("unknown token")
	case !tok.RevokedAt.IsZero():
		return tok, fmt.Errorf("token %s was revoked", tok.Name)
	case !tok.Valid(now):
		return tok, fmt.Errorf("token %s expired at %s", tok.Name, tok.ExpiresAt.Format(time.RFC3339))
	}
	return tok, nil
}

// stillValid reports whether the named token may still be used.
func (t *tokens) stillValid(name string, now time.Time) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, tok := range t.list {
		if tok.Name == name {
			return tok.Valid(now)
		}
	}
	return false
}

// authenticate decides who a new connection is, from hello.token or the
// session cookie. With authentication off, everyone is an anonymous admin.
func (r *Relay) authenticate(req *http.Request, h *wire.Hello) (principal, error) {
	p := principal{remote: remoteIP(req.RemoteAddr)}
	if r.cfg.NoAuth {
		p.token, p.role = "anonymous", store.RoleAdmin
		return p, nil
	}
	secret := h.Token
	if secret == "" {
		if c, err := req.Cookie(SessionCookie); err == nil {
			secret = c.Value
		}
	}
	now := time.Now()
	tok, err := r.tokens.check(r.ctx, secret, now)
	if err != nil {
		r.failures.failed(addrKey(req.RemoteAddr), now)
		r.auditDenied(principal{remote: p.remote, token: tok.Name, role: tok.Role}, "auth_failure", "", err.Error())
		return p, err
	}
	p.token, p.role = tok.Name, tok.Role
	return p, nil
}

func remoteIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// authorize authenticates a connection that said hello and admits it for
// act; on failure it has closed c with the reason.
func (r *Relay) authorize(c *conn, req *http.Request, h *wire.Hello, act auth.Action) (principal, bool) {
	who, err := r.authenticate(req, h)
	if err != nil {
		c.sendError(wire.CodeUnauthorized, err.Error(), "", "")
		c.setWhy("unauthorized")
		c.closeGracefully(wire.CloseUnauthorized, "unauthorized: "+err.Error())
		return who, false
	}
	return who, r.admit(c, who, act)
}

// admit checks the principal may use the endpoint and has a connection
// to spare, closing c with the matching code if not.
func (r *Relay) admit(c *conn, p principal, act auth.Action) bool {
	if !r.cfg.NoAuth && !auth.Allows(p.role, act) {
		msg := fmt.Sprintf("a token with role %s may not %s", p.role, describeAction(act))
		r.auditDenied(p, "connect", "", msg)
		c.sendError(wire.CodeForbidden, msg, "", "")
		c.setWhy("forbidden")
		c.closeGracefully(wire.CloseForbidden, msg)
		return false
	}
	r.mu.Lock()
	n := r.connsByToken[p.token]
	if n >= r.cfg.MaxConnsPerToken && !r.cfg.NoAuth {
		r.mu.Unlock()
		msg := fmt.Sprintf("token %s already has %d connections, the limit", p.token, n)
		r.auditDenied(p, "connect", "", msg)
		c.sendError(wire.CodeRateLimited, msg, "", "")
		c.setWhy("too_many_connections")
		c.closeGracefully(wire.CloseTooManyConnections, msg)
		return false
	}
	r.connsByToken[p.token] = n + 1
	r.mu.Unlock()
	r.audit(p, "connect", "", "ok", string(act))
	return true
}

// release undoes admit's count when the connection ends.
func (r *Relay) release(p principal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.connsByToken[p.token]--; r.connsByToken[p.token] <= 0 {
		delete(r.connsByToken, p.token)
	}
}

func describeAction(act auth.Action) string {
	switch act {
	case auth.ActRegisterAgent:
		return "register as an agent"
	case auth.ActWatch:
		return "connect as a dashboard"
	case auth.ActRun:
		return "run commands"
	case auth.ActInput:
		return "type into commands"
	case auth.ActResize:
		return "resize terminals"
	case auth.ActCancel:
		return "cancel commands"
	case auth.ActAudit:
		return "read the audit trail"
	}
	return string(act)
}

// audit records one entry of the audit trail.
func (r *Relay) audit(p principal, action, subject, result, detail string) {
	r.persist.addAudit(wire.AuditEntry{At: time.Now().UTC(), Token: p.token, Role: p.role, Remote: p.remote,
		Action: action, Subject: subject, Result: result, Detail: detail})
}

// watchTokens closes the connections of tokens that were revoked or
// expired, within tokenPoll of the change.
func (r *Relay) watchTokens(ctx context.Context) {
	if r.cfg.NoAuth {
		return
	}
	t := time.NewTicker(tokenPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if _, err := r.tokens.refresh(ctx); err != nil {
				r.log.Warn("reload tokens", "err", err)
				continue
			}
			r.closeInvalid(now)
		}
	}
}

func (r *Relay) closeInvalid(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	closeIf := func(c *conn, p principal) {
		if !r.tokens.stillValid(p.token, now) {
			msg := fmt.Sprintf("token %s was revoked or has expired", p.token)
			c.setWhy("revoked")
			c.sendError(wire.CodeUnauthorized, msg, "", "")
			c.closeGracefully(wire.CloseUnauthorized, msg)
		}
	}
	for d := range r.dashboards {
		closeIf(d.conn, d.who)
	}
	for _, a := range r.agents {
		if a.conn != nil {
			closeIf(a.conn.conn, a.conn.who)
		}
	}
}

// checkOrigin allows requests without an Origin (non-browser clients),
// from the relay's own origin, or from an origin configured as allowed, so
// that no other site can drive the relay through a visitor's browser.
func (r *Relay) checkOrigin(req *http.Request) bool {
	origin := req.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, req.Host) {
		return true
	}
	for _, allowed := range r.cfg.AllowedOrigins {
		if strings.EqualFold(strings.TrimRight(allowed, "/"), origin) {
			return true
		}
	}
	r.log.Warn("refused cross-origin websocket", "origin", origin, "host", req.Host, "remote", req.RemoteAddr)
	return false
}

// handleLogin turns a token into an HttpOnly, SameSite=Strict session
// cookie for the browser page. The token travels in the request body,
// never in a URL.
func (r *Relay) handleLogin(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, 4096)).Decode(&body); err != nil {
		httpError(w, http.StatusBadRequest, "send {\"token\": \"…\"}")
		return
	}
	p := principal{remote: remoteIP(req.RemoteAddr)}
	now := time.Now()
	if wait, blocked := r.failures.blocked(addrKey(req.RemoteAddr), now); blocked {
		r.metrics.refused.WithLabelValues("auth_failures").Inc()
		httpError(w, http.StatusTooManyRequests, fmt.Sprintf("too many failed authentications from your address: try again in %s", wait.Round(time.Second)))
		return
	}
	tok, err := r.tokens.check(req.Context(), body.Token, now)
	if err == nil && !auth.Allows(tok.Role, auth.ActWatch) {
		err = fmt.Errorf("a token with role %s may not use the dashboard", tok.Role)
	}
	if err != nil {
		p.token, p.role = tok.Name, tok.Role
		r.failures.failed(addrKey(req.RemoteAddr), now)
		r.auditDenied(p, "auth_failure", "", "login: "+err.Error())
		httpError(w, http.StatusUnauthorized, err.Error())
		return
	}
	p.token, p.role = tok.Name, tok.Role
	r.audit(p, "login", "", "ok", "")
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: body.Token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: req.TLS != nil, Expires: tok.ExpiresAt})
	writeJSON(w, map[string]string{"name": tok.Name, "role": tok.Role})
}

func (r *Relay) handleLogout(w http.ResponseWriter, req *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: req.TLS != nil, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

// handleWhoami tells the page whether it is logged in, and as whom.
func (r *Relay) handleWhoami(w http.ResponseWriter, req *http.Request) {
	if r.cfg.NoAuth {
		writeJSON(w, map[string]any{"name": "anonymous", "role": store.RoleAdmin, "auth": false})
		return
	}
	c, err := req.Cookie(SessionCookie)
	if err != nil {
		httpError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	tok, err := r.tokens.check(req.Context(), c.Value, time.Now())
	if err != nil {
		httpError(w, http.StatusUnauthorized, err.Error())
		return
	}
	writeJSON(w, map[string]any{"name": tok.Name, "role": tok.Role, "auth": true})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
