// Package tokenadmin is token administration on a relay's store: creating,
// listing and revoking access tokens, binding agent tokens to their agent
// and SSH public keys to dashboard tokens,
// one-time sign-in codes for the browser page, the first start's admin
// token, and the token files it writes. `relay token …` and `relay
// signin-link` are flags over it; it works on the database beside a
// running relay, which notices every change within a second. Each change
// is audited, and a failure to audit fails the change's report.
package tokenadmin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"switchboard/internal/auth"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// Store is what token administration needs of a relay's store.
type Store interface {
	store.Auth
	store.AgentBindings
	store.Sessions
	store.SSHKeys
	Apply(ctx context.Context, b *store.Batch) error
}

// Admin administers the tokens of one store.
type Admin struct {
	Store Store
	// Who is recorded in the audit trail as having made each change,
	// e.g. "relay-cli:alice".
	Who string
	Now func() time.Time // default time.Now
}

func (a *Admin) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Spec describes a new token.
type Spec struct {
	Name string
	Role string
	TTL  time.Duration // 0: it never expires
	// Agent binds an agent token to the agent of this name at creation:
	// only this token may register it, and it may register nothing else.
	Agent string
	// Scope limits a dashboard token to the agents carrying all these
	// labels (and their commands).
	Scope map[string]string
	// SSHKeys are public keys (see ParseSSHKey) that log in over SSH as
	// the new token.
	SSHKeys []string
}

func (s Spec) check() error {
	switch {
	case s.Agent != "" && s.Role != store.RoleAgent:
		return fmt.Errorf("--agent binds an agent token; a %s token connects no agent", s.Role)
	case len(s.Scope) > 0 && (s.Role == store.RoleAgent || s.Role == store.RoleAdmin):
		return fmt.Errorf("--scope limits a viewer or operator token; an %s token cannot be scoped", s.Role)
	case len(s.SSHKeys) > 0 && s.Role == store.RoleAgent:
		return errors.New("--ssh-key logs in to the dashboard; an agent token cannot have SSH keys")
	case s.Agent != "" && (strings.TrimSpace(s.Agent) == "" || len(s.Agent) > 255):
		return fmt.Errorf("agent name %q must be 1-255 characters", s.Agent)
	}
	for k, v := range s.Scope {
		if k == "" {
			return fmt.Errorf("scope label %q=%q has no name", k, v)
		}
	}
	return nil
}

// Create makes a token and returns its secret, which is shown only once.
func (a *Admin) Create(ctx context.Context, s Spec) (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	now := a.now()
	secret, tok, err := auth.NewToken(s.Name, s.Role, s.TTL, now)
	if err != nil {
		return "", err
	}
	if len(s.Scope) > 0 {
		tok.Scope = s.Scope
	}
	if err := a.checkNewKeys(ctx, s.SSHKeys, now); err != nil {
		return "", err
	}
	if s.Agent != "" {
		if holder := a.agentHolder(ctx, s.Agent, now); holder != "" {
			return "", fmt.Errorf("agent %s is already bound to token %s: revoke that token first", s.Agent, holder)
		}
	}
	if err := a.Store.CreateToken(ctx, tok); err != nil {
		if errors.Is(err, store.ErrExists) {
			return "", fmt.Errorf("a token named %s exists already: %w", s.Name, err)
		}
		return "", err
	}
	subject := s.Name + " (" + s.Role + ")"
	if s.Agent != "" {
		err := a.Store.BindAgent(ctx, store.AgentBinding{AgentName: s.Agent, Token: s.Name, Explicit: true, BoundAt: now.UTC()})
		if err != nil {
			_ = a.Store.RevokeToken(ctx, s.Name, now) // no unbound token is left behind; err says why
			return "", fmt.Errorf("bind token %s to agent %s: %w", s.Name, s.Agent, err)
		}
		subject += " for agent " + s.Agent
	}
	if len(s.Scope) > 0 {
		subject += " scoped to " + FormatLabels(s.Scope)
	}
	if err := a.audit(ctx, "token_create", subject); err != nil {
		return secret, err
	}
	for _, key := range s.SSHKeys {
		k, err := a.AddSSHKey(ctx, s.Name, key)
		if err != nil && k.Token == "" {
			_ = a.Revoke(ctx, s.Name) // no token is left without the keys it was made for; err says why
			return "", fmt.Errorf("token %s not created: %w", s.Name, err)
		}
		if err != nil {
			return secret, err // bound, not audited
		}
	}
	return secret, nil
}

// agentHolder is the valid token an agent name is bound to, or "".
func (a *Admin) agentHolder(ctx context.Context, name string, now time.Time) string {
	list, err := a.Store.AgentBindings(ctx)
	if err != nil {
		return "" // BindAgent reports the conflict, if there is one
	}
	toks, _ := a.Store.Tokens(ctx)
	for _, b := range list {
		if b.AgentName != name {
			continue
		}
		for _, t := range toks {
			if t.Name == b.Token && t.Valid(now) {
				return t.Name
			}
		}
	}
	return ""
}

// Revoke revokes the named token, which ends its connections, sessions
// and agent bindings.
func (a *Admin) Revoke(ctx context.Context, name string) error {
	if err := a.Store.RevokeToken(ctx, name, a.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("there is no token named %s", name)
		}
		return err
	}
	return a.audit(ctx, "token_revoke", name)
}

// SignInCode makes a one-time code that signs a browser in as the token
// whose secret is given (say, read from var/admin.token).
func (a *Admin) SignInCode(ctx context.Context, secret string) (string, time.Time, error) {
	list, err := a.Store.Tokens(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	now := a.now()
	tok, ok := auth.Match(list, strings.TrimSpace(secret))
	switch {
	case !ok:
		return "", time.Time{}, errors.New("the token is not one of this database's")
	case !tok.Valid(now):
		return "", time.Time{}, fmt.Errorf("token %s was revoked or has expired", tok.Name)
	case !auth.Allows(tok.Role, auth.ActWatch):
		return "", time.Time{}, fmt.Errorf("token %s is an %s token; the page needs a viewer, operator or admin token", tok.Name, tok.Role)
	}
	code, c := auth.NewSignInCode(tok.Name, now)
	if err := a.Store.CreateSignInCode(ctx, c); err != nil {
		return "", time.Time{}, err
	}
	return code, c.ExpiresAt, a.audit(ctx, "signin_link", tok.Name)
}

// EnsureAdmin creates an admin token named "admin" when the store has no
// tokens at all (a first start), writes its secret to path, and reports
// whether it did. Another relay on the same database may have made it
// meanwhile; then it does nothing.
func (a *Admin) EnsureAdmin(ctx context.Context, path string) (bool, error) {
	list, err := a.Store.Tokens(ctx)
	if err != nil || len(list) > 0 {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("first start: create the admin token's directory: %w", err)
	}
	// The file first: one that is in the way fails the start before a
	// token exists whose secret nobody has.
	f, err := CreateSecretFile(path)
	if err != nil {
		return false, fmt.Errorf("first start: %w", err)
	}
	defer f.Close()
	secret, err := a.Create(ctx, Spec{Name: "admin", Role: store.RoleAdmin})
	if secret == "" {
		_ = os.Remove(path)
		if errors.Is(err, store.ErrExists) {
			return false, nil
		}
		return false, err
	}
	if _, werr := fmt.Fprintln(f, secret); werr != nil {
		return false, fmt.Errorf("write %s: %w", path, werr)
	}
	if cerr := f.Close(); cerr != nil {
		return false, fmt.Errorf("write %s: %w", path, cerr)
	}
	return true, err // an audit failure, once the secret is safe
}

// CreateSecretFile creates a file for a secret, readable only by its
// owner. It never opens a file that exists, nor follows a symbolic link
// (O_EXCL fails on one, dangling or not): a file another user put there,
// or a link to one, would hand them the secret.
func CreateSecretFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("%s exists already: remove it, or write the secret somewhere else", path)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// audit records a change made from the command line.
func (a *Admin) audit(ctx context.Context, action, subject string) error {
	e := wire.AuditEntry{At: a.now().UTC(), Token: a.Who, Remote: "local", Action: action, Subject: subject, Result: "ok"}
	if err := a.Store.Apply(ctx, &store.Batch{Audit: []wire.AuditEntry{e}}); err != nil {
		return fmt.Errorf("%s %s was done, but not audited: %w", action, subject, err)
	}
	return nil
}
