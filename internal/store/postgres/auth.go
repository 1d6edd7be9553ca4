package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
	"switchboard/internal/wire"
)

// CreateToken stores a new token; a taken name fails with store.ErrExists.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	_, err := s.w.Exec(ctx, `INSERT INTO tokens (name, role, hash, created_at, expires_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, clean(t.Name), clean(t.Role), t.Hash,
		sqlrow.Nanos(t.CreatedAt), sqlrow.Nanos(t.ExpiresAt), sqlrow.Nanos(t.RevokedAt))
	if isUniqueViolation(err) {
		err = store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("store %s: create token %s: %w", s.name, t.Name, err)
	}
	return nil
}

// Tokens returns every token, revoked and expired ones included, by name.
func (s *Store) Tokens(ctx context.Context) ([]store.Token, error) {
	rows, _ := s.r.Query(ctx, "SELECT name, role, hash, created_at, expires_at, revoked_at FROM tokens ORDER BY name")
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Token, error) {
		var (
			t                 store.Token
			created, exp, rev int64
		)
		err := r.Scan(&t.Name, &t.Role, &t.Hash, &created, &exp, &rev)
		t.CreatedAt, t.ExpiresAt, t.RevokedAt = sqlrow.FromNanos(created), sqlrow.FromNanos(exp), sqlrow.FromNanos(rev)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: tokens: %w", s.name, err)
	}
	return list, nil
}

// RevokeToken marks a token revoked; store.ErrNotFound if there is none.
// Revoking a revoked token changes nothing.
func (s *Store) RevokeToken(ctx context.Context, name string, at time.Time) error {
	tag, err := s.w.Exec(ctx, "UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at = 0", sqlrow.Nanos(at), clean(name))
	if err != nil {
		return fmt.Errorf("store %s: revoke token %s: %w", s.name, name, err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	var exists int
	err = s.w.QueryRow(ctx, "SELECT 1 FROM tokens WHERE name = $1", clean(name)).Scan(&exists)
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store %s: revoke token %s: %w", s.name, name, err)
	}
	return nil
}

// TokensChanged returns the token change counter, which a trigger moves on
// every change to the tokens table, whoever makes it.
func (s *Store) TokensChanged(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRow(ctx, "SELECT counter FROM token_changes WHERE id = 1").Scan(&n); err != nil {
		return 0, fmt.Errorf("store %s: token changes: %w", s.name, err)
	}
	return n, nil
}

// Audit returns the newest entries first.
func (s *Store) Audit(ctx context.Context, limit int) ([]wire.AuditEntry, error) {
	rows, _ := s.r.Query(ctx, `SELECT at, token, role, remote, action, subject, result, detail
		FROM audit ORDER BY id DESC LIMIT $1`, store.PageSize(limit))
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wire.AuditEntry, error) {
		var (
			e  wire.AuditEntry
			at int64
		)
		err := r.Scan(&at, &e.Token, &e.Role, &e.Remote, &e.Action, &e.Subject, &e.Result, &e.Detail)
		e.At = sqlrow.FromNanos(at)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: audit: %w", s.name, err)
	}
	if list == nil {
		list = []wire.AuditEntry{}
	}
	return list, nil
}
