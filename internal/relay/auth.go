package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"switchboard/internal/auth"
	"switchboard/internal/hub"
	"switchboard/internal/store"
	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// tokenPoll is how often the relay looks for tokens created or revoked by
// another process (relay token …) and for tokens that expired.
const tokenPoll = 500 * time.Millisecond

// principal is who a connection acts as.
type principal struct {
	token   string // token name
	role    string
	remote  string       // IP address
	session []byte       // the browser session it signed in with (its hash); nil for a token in hello
	until   time.Time    // when that session ends; zero: with its token
	scope   wire.Strings // the labels an agent must carry to be seen (scope.go); nil: every agent
}

// actor is who p is in the audit trail.
func (p principal) actor() hub.Actor {
	return hub.Actor{Token: p.token, Role: p.role, Remote: p.remote, Scope: p.scope}
}

// tokens is the relay's view of the token table and the agent bindings,
// reloaded when either changes.
type tokens struct {
	store store.Auth          // nil when authentication is off
	binds store.AgentBindings // the same store

	mu       sync.RWMutex
	list     []store.Token
	bindings []store.AgentBinding
	version  int64
	loaded   bool
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
	bindings, err := t.binds.AgentBindings(ctx)
	if err != nil {
		return false, err
	}
	t.mu.Lock()
	t.list, t.bindings, t.version, t.loaded = list, bindings, v, true
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
	tok, ok := t.byName(name)
	return ok && tok.Valid(now)
}

// byName returns the named token as last loaded.
func (t *tokens) byName(name string) (store.Token, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byNameLocked(name)
}

func (t *tokens) byNameLocked(name string) (store.Token, bool) {
	for _, tok := range t.list {
		if tok.Name == name {
			return tok, true
		}
	}
	return store.Token{}, false
}

// authenticate decides who a new connection is, from hello.token or the
// session cookie. With authentication off, everyone is an anonymous admin.
func (r *Relay) authenticate(req *http.Request, h *wire.Hello) (principal, error) {
	p := principal{remote: remoteIP(req.RemoteAddr)}
	if r.cfg.NoAuth {
		p.token, p.role = "anonymous", store.RoleAdmin
		return p, nil
	}
	now := time.Now()
	var tok store.Token
	var err error
	if c, cerr := req.Cookie(SessionCookie); h.Token == "" && cerr == nil {
		tok, err = r.sessionToken(r.ctx, c.Value, now, &p)
	} else {
		tok, err = r.tokens.check(r.ctx, h.Token, now)
	}
	if err != nil {
		r.failures.Failed(addrKey(req.RemoteAddr), now)
		r.auditDenied(principal{remote: p.remote, token: tok.Name, role: tok.Role}, "auth_failure", "", err.Error())
		return p, err
	}
	p.token, p.role, p.scope = tok.Name, tok.Role, tok.Scope
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
func (r *Relay) authorize(c *transport.Conn, req *http.Request, h *wire.Hello, act auth.Action) (principal, bool) {
	who, err := r.authenticate(req, h)
	if err != nil {
		c.SendError(wire.CodeUnauthorized, err.Error(), "", "")
		c.SetWhy("unauthorized")
		c.Close(wire.CloseUnauthorized, "unauthorized: "+err.Error())
		return who, false
	}
	return who, r.admit(c, who, act)
}

// admit checks the principal may use the endpoint and has a connection
// to spare, closing c with the matching code if not.
func (r *Relay) admit(c *transport.Conn, p principal, act auth.Action) bool {
	if !r.cfg.NoAuth && !auth.Allows(p.role, act) {
		msg := fmt.Sprintf("a token with role %s may not %s", p.role, describeAction(act))
		r.auditDenied(p, "connect", "", msg)
		c.SendError(wire.CodeForbidden, msg, "", "")
		c.SetWhy("forbidden")
		c.Close(wire.CloseForbidden, msg)
		return false
	}
	r.mu.Lock()
	n := r.connsByToken[p.token]
	if n >= r.cfg.MaxConnsPerToken && !r.cfg.NoAuth {
		r.mu.Unlock()
		msg := fmt.Sprintf("token %s already has %d connections, the limit", p.token, n)
		r.auditDenied(p, "connect", "", msg)
		c.SendError(wire.CodeRateLimited, msg, "", "")
		c.SetWhy("too_many_connections")
		c.Close(wire.CloseTooManyConnections, msg)
		return false
	}
	r.connsByToken[p.token] = n + 1
	r.mu.Unlock()
	if act != auth.ActRegisterAgent { // agents are audited with the identity they claim (auditAgent)
		r.audit(p, "connect", "", "ok", string(act))
	}
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
	case auth.ActRestart:
		return "restart sessions"
	case auth.ActAudit:
		return "read the audit trail"
	case auth.ActForgetAgent:
		return "forget agents"
	}
	return string(act)
}

// audit records one entry of the audit trail.
func (r *Relay) audit(p principal, action, subject, result, detail string) {
	r.hub.Audit(p.actor(), action, subject, result, detail)
}

// auditDenied records a refusal in the audit trail (summarized past the
// first of a kind in a minute).
func (r *Relay) auditDenied(p principal, action, subject, detail string) {
	r.hub.AuditDenied(p.actor(), action, subject, detail)
}

// permit is the role check of a dashboard's request: it reports whether
// d's role may do act, answering a refusal with an error and an audit
// entry. (auth.Allows holds the table of what each role may do.)
func (r *Relay) permit(d *dashboardSession, act auth.Action, requestID, commandID string) bool {
	if auth.Allows(d.who.role, act) {
		return true
	}
	msg := fmt.Sprintf("a token with role %s may not %s", d.who.role, describeAction(act))
	r.auditDenied(d.who, string(act), commandID, msg)
	d.conn.SendError(wire.CodeForbidden, msg, requestID, commandID)
	return false
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
	closeIf := func(c *transport.Conn, p principal) {
		if !p.until.IsZero() && !now.Before(p.until) {
			c.SetWhy("revoked")
			c.SendError(wire.CodeUnauthorized, "the browser session has expired: sign in again", "", "")
			c.Close(wire.CloseUnauthorized, "browser session expired")
			return
		}
		if !r.tokens.stillValid(p.token, now) {
			msg := fmt.Sprintf("token %s was revoked or has expired", p.token)
			c.SetWhy("revoked")
			c.SendError(wire.CodeUnauthorized, msg, "", "")
			c.Close(wire.CloseUnauthorized, msg)
		}
	}
	for c, who := range r.live {
		closeIf(c, who)
	}
}

// checkOrigin allows requests without an Origin (non-browser clients),
// from the relay's own origin, or from an origin configured as allowed, so
// that no other site can drive the relay through a visitor's browser.
func (r *Relay) checkOrigin(req *http.Request) bool {
	origin := req.Header.Get("Origin")
	if origin == "" || r.sameOrigin(origin, req.Host) {
		return true
	}
	r.log.Warn("refused cross-origin websocket", "origin", origin, "host", req.Host, "remote", req.RemoteAddr)
	return false
}
