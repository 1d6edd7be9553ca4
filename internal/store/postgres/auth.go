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

var (
	insertToken  = "INSERT INTO tokens (" + sqlrow.List("", sqlrow.TokenColumns) + ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
	selectTokens = "SELECT " + sqlrow.List("", sqlrow.TokenColumns) + " FROM tokens ORDER BY name"
)

// CreateToken stores a new token; a taken name fails with store.ErrExists.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	_, err := s.w.Exec(ctx, insertToken, cleanArgs(sqlrow.TokenArgs(&t))...)
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
	rows, _ := s.r.Query(ctx, selectTokens)
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Token, error) { return sqlrow.ScanToken(r) })
	if err != nil {
		return nil, fmt.Errorf("store %s: tokens: %w", s.name, err)
	}
	return list, nil
}

// RevokeToken marks a token revoked and ends what acts for it;
// store.ErrNotFound if there is none. Revoking it again changes nothing
// but its revocation time, which stays the first.
func (s *Store) RevokeToken(ctx context.Context, name string, at time.Time) error {
	name = clean(name)
	err := pgx.BeginFunc(ctx, s.w, func(tx pgx.Tx) error {
		var exists int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM tokens WHERE name = $1", name).Scan(&exists); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return store.ErrNotFound
			}
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at = 0", sqlrow.Nanos(at), name); err != nil {
			return err
		}
		for _, q := range sqlrow.RevokeCascade {
			if _, err := tx.Exec(ctx, q(dollar), name); err != nil {
				return err
			}
		}
		return nil
	})
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
