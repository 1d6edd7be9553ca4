package store

import (
	"context"
	"errors"
	"time"

	"switchboard/internal/wire"
)

// ErrExists is returned when creating something whose name is taken.
var ErrExists = errors.New("already exists")

// Roles, from least to most powerful. Each role may do what the roles
// before it may, except agent, which may only register as an agent.
const (
	RoleAgent    = "agent"
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// ValidRole reports whether r is one of the roles.
func ValidRole(r string) bool {
	switch r {
	case RoleAgent, RoleViewer, RoleOperator, RoleAdmin:
		return true
	}
	return false
}

// Token is an access token as stored: never the secret, only its SHA-256.
type Token struct {
	Name      string
	Role      string
	Hash      []byte
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never
	RevokedAt time.Time // zero: not revoked
	// Scope, when set, limits a dashboard token to the agents carrying
	// all of these labels, and their commands (relay token create
	// --scope). Nil: every agent.
	Scope wire.Strings
}

// Valid reports whether the token may be used at t.
func (t Token) Valid(at time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || at.Before(t.ExpiresAt))
}

// Auth stores tokens and the audit trail. Audit entries are also written
// in batches through Batch.Audit.
type Auth interface {
	CreateToken(ctx context.Context, t Token) error
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken marks the named token revoked, and ends its browser
	// sessions, sign-in codes and agent bindings; ErrNotFound if none.
	RevokeToken(ctx context.Context, name string, at time.Time) error
	// TokensChanged returns a value that changes whenever any token is
	// created or revoked, by this process or another one.
	TokensChanged(ctx context.Context) (int64, error)
	Audit(ctx context.Context, limit int) ([]wire.AuditEntry, error)
}
