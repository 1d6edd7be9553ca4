package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"switchboard/internal/auth"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// Browser sessions. A page signs in by posting a token, or the code of a
// one-time sign-in link, to /api/login; the relay answers with a cookie
// that holds the id of a session kept on the server (only its SHA-256 is
// stored), never the token. The session acts as its token until it
// expires (Config.SessionTTL, or the token's own expiry), the browser signs
// out, or the token is revoked; each ends the page's live connections.
// Login and logout accept only same-origin JSON requests: a form another
// site posts cannot sign a visitor in as someone else or out.

// SessionCookie holds a browser's session id after it signs in.
const SessionCookie = "switchboard_session"

// maxLoginBody bounds a login request's body.
const maxLoginBody = 4096

// sessionToken finds the token a session cookie acts as, and records the
// session in p.
func (r *Relay) sessionToken(ctx context.Context, id string, now time.Time, p *principal) (store.Token, error) {
	sess, err := r.sessions.Session(ctx, auth.Hash(id), now)
	if errors.Is(err, store.ErrNotFound) {
		return store.Token{}, errors.New("the browser session has expired or was ended: sign in again")
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("check session: %w", err)
	}
	if _, err := r.tokens.refresh(ctx); err != nil {
		return store.Token{}, fmt.Errorf("check token: %w", err)
	}
	tok, ok := r.tokens.byName(sess.Token)
	switch {
	case !ok:
		return store.Token{}, fmt.Errorf("the token %s of this browser session is gone", sess.Token)
	case !tok.Valid(now):
		return tok, fmt.Errorf("token %s was revoked or has expired", tok.Name)
	}
	p.session, p.until = sess.Hash, sess.ExpiresAt
	return tok, nil
}

// browserRequest checks that a request to change a session comes from a
// page of the relay's own (or an allowed) origin, as JSON: what a form on
// another site cannot send.
func (r *Relay) browserRequest(req *http.Request) error {
	origin := req.Header.Get("Origin")
	if origin == "" {
		return errors.New("send the request from the dashboard page: it has no Origin header")
	}
	if !r.sameOrigin(origin, req.Host) {
		return fmt.Errorf("requests from %s may not sign in or out here", origin)
	}
	if ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); ct != "application/json" {
		return errors.New("send the request as application/json")
	}
	return nil
}

// sameOrigin reports whether origin is the relay's own (host equals the
// request's Host) or an allowed one.
func (r *Relay) sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	for _, allowed := range r.cfg.AllowedOrigins {
		if strings.EqualFold(strings.TrimRight(allowed, "/"), origin) {
			return true
		}
	}
	return false
}

// handleLogin opens a browser session for a token or a sign-in code.
func (r *Relay) handleLogin(w http.ResponseWriter, req *http.Request) {
	if r.cfg.NoAuth {
		httpError(w, http.StatusNotFound, "authentication is off: there is nothing to sign in to")
		return
	}
	if err := r.browserRequest(req); err != nil {
		httpError(w, http.StatusForbidden, err.Error())
		return
	}
	var body struct {
		Token string `json:"token"`
		Code  string `json:"code"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxLoginBody)).Decode(&body); err != nil {
		httpError(w, http.StatusBadRequest, `send {"token": "…"} or {"code": "…"}`)
		return
	}
	p := principal{remote: remoteIP(req.RemoteAddr)}
	now := time.Now()
	if wait, blocked := r.failures.Blocked(addrKey(req.RemoteAddr), now); blocked {
		r.metrics.refused.WithLabelValues("auth_failures").Inc()
		httpError(w, http.StatusTooManyRequests, fmt.Sprintf("too many failed authentications from your address: try again in %s", wait.Round(time.Second)))
		return
	}
	tok, how, err := r.loginToken(req.Context(), body.Token, body.Code, now)
	if err == nil && !auth.Allows(tok.Role, auth.ActWatch) {
		err = fmt.Errorf("a token with role %s may not use the dashboard", tok.Role)
	}
	p.token, p.role = tok.Name, tok.Role
	if err != nil {
		r.failures.Failed(addrKey(req.RemoteAddr), now)
		r.auditDenied(p, "auth_failure", "", "login: "+err.Error())
		httpError(w, http.StatusUnauthorized, err.Error())
		return
	}
	id, sess := auth.NewSession(tok, r.cfg.SessionTTL, now)
	if err := r.sessions.CreateSession(req.Context(), sess); err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	r.audit(p, "login", "", "ok", how)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: req.TLS != nil, Expires: sess.ExpiresAt})
	writeJSON(w, map[string]any{"name": tok.Name, "role": tok.Role, "scope": tok.Scope, "expires_at": sess.ExpiresAt})
}

// loginToken is the valid token a login names, by its secret or by a
// sign-in code, and how it was named.
func (r *Relay) loginToken(ctx context.Context, secret, code string, now time.Time) (store.Token, string, error) {
	if code == "" {
		tok, err := r.tokens.check(ctx, secret, now)
		return tok, "with a token", err
	}
	name, err := r.sessions.UseSignInCode(ctx, auth.Hash(code), now)
	if errors.Is(err, store.ErrNotFound) {
		return store.Token{}, "", errors.New("this sign-in link was used already or has expired: ask for a new one")
	}
	if err != nil {
		return store.Token{}, "", err
	}
	if _, err := r.tokens.refresh(ctx); err != nil {
		return store.Token{}, "", err
	}
	tok, ok := r.tokens.byName(name)
	if !ok || !tok.Valid(now) {
		return tok, "", fmt.Errorf("token %s of this sign-in link was revoked or has expired", name)
	}
	return tok, "with a sign-in link", nil
}

// handleLogout ends the browser's session and its live connections.
func (r *Relay) handleLogout(w http.ResponseWriter, req *http.Request) {
	if err := r.browserRequest(req); err != nil {
		httpError(w, http.StatusForbidden, err.Error())
		return
	}
	if c, err := req.Cookie(SessionCookie); err == nil && !r.cfg.NoAuth {
		hash := auth.Hash(c.Value)
		if err := r.sessions.DeleteSession(req.Context(), hash); err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
		r.closeSession(hash)
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: req.TLS != nil, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

// closeSession closes the dashboards that signed in with a session.
func (r *Relay) closeSession(hash []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c, who := range r.live {
		if who.session != nil && bytes.Equal(who.session, hash) {
			r.audit(who, "logout", "", "ok", "")
			c.SetWhy("revoked")
			c.SendError(wire.CodeUnauthorized, "signed out", "", "")
			c.Close(wire.CloseUnauthorized, "signed out")
		}
	}
}

// handleWhoami tells the page whether it is signed in, and as whom.
func (r *Relay) handleWhoami(w http.ResponseWriter, req *http.Request) {
	if r.cfg.NoAuth {
		writeJSON(w, map[string]any{"name": "anonymous", "role": store.RoleAdmin, "auth": false})
		return
	}
	c, err := req.Cookie(SessionCookie)
	if err != nil {
		httpError(w, http.StatusUnauthorized, "not signed in")
		return
	}
	var p principal
	tok, err := r.sessionToken(req.Context(), c.Value, time.Now(), &p)
	if err != nil {
		httpError(w, http.StatusUnauthorized, err.Error())
		return
	}
	writeJSON(w, map[string]any{"name": tok.Name, "role": tok.Role, "scope": tok.Scope, "auth": true, "expires_at": p.until})
}

// signIn answers a dashboard's request for a one-time sign-in code, which
// signs a browser in as the dashboard's own token (the TUI shows it as a
// link).
func (r *Relay) signIn(d *dashboardSession, m *wire.SignInQuery) {
	if r.cfg.NoAuth {
		d.conn.SendError(wire.CodeNotFound, "authentication is off: the page needs no sign-in", m.RequestID, "")
		return
	}
	code, c := auth.NewSignInCode(d.who.token, time.Now())
	if err := r.sessions.CreateSignInCode(r.ctx, c); err != nil {
		d.conn.SendError(wire.CodeStorage, fmt.Sprintf("create a sign-in code: %v", err), m.RequestID, "")
		return
	}
	r.audit(d.who, "signin_link", "", "ok", "expires "+c.ExpiresAt.Format(time.RFC3339))
	d.conn.SendMessage(&wire.SignInResult{RequestID: m.RequestID, Code: code, ExpiresAt: c.ExpiresAt})
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
