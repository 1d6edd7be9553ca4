package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
	"switchboard/internal/wire"
)

var _ store.Auth = (*DB)(nil)

const insertAudit = `INSERT INTO audit (at, token, role, remote, action, subject, result, detail)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

var (
	insertToken  = "INSERT INTO tokens (" + sqlrow.List("", sqlrow.TokenColumns) + ") VALUES (?, ?, ?, ?, ?, ?, ?)"
	selectTokens = "SELECT " + sqlrow.List("", sqlrow.TokenColumns) + " FROM tokens ORDER BY name"
)

// CreateToken stores a new token; a taken name fails with store.ErrExists.
func (db *DB) CreateToken(ctx context.Context, t store.Token) error {
	_, err := db.w.ExecContext(ctx, insertToken, sqlrow.TokenArgs(&t)...)
	if err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed") {
		err = store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("store %s: create token %s: %w", db.path, t.Name, err)
	}
	return nil
}

// Tokens returns every token, revoked and expired ones included, by name.
func (db *DB) Tokens(ctx context.Context) ([]store.Token, error) {
	rows, err := db.r.QueryContext(ctx, selectTokens)
	if err != nil {
		return nil, fmt.Errorf("store %s: tokens: %w", db.path, err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := sqlrow.ScanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("store %s: tokens: %w", db.path, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store %s: tokens: %w", db.path, err)
	}
	return out, nil
}

// RevokeToken marks a token revoked and ends what acts for it;
// store.ErrNotFound if there is none. Revoking it again changes nothing
// but its revocation time, which stays the first.
func (db *DB) RevokeToken(ctx context.Context, name string, at time.Time) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var exists int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM tokens WHERE name = ?", name).Scan(&exists); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return store.ErrNotFound
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at = 0", sqlrow.Nanos(at), name); err != nil {
			return err
		}
		for _, q := range sqlrow.RevokeCascade {
			if _, err := tx.ExecContext(ctx, q(question), name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store %s: revoke token %s: %w", db.path, name, err)
	}
	return nil
}

// TokensChanged returns the token change counter.
func (db *DB) TokensChanged(ctx context.Context) (int64, error) {
	var n int64
	if err := db.r.QueryRowContext(ctx, "SELECT counter FROM token_changes WHERE id = 1").Scan(&n); err != nil {
		return 0, fmt.Errorf("store %s: token changes: %w", db.path, err)
	}
	return n, nil
}

// Audit returns the newest entries first.
func (db *DB) Audit(ctx context.Context, limit int) ([]wire.AuditEntry, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT at, token, role, remote, action, subject, result, detail
		FROM audit ORDER BY id DESC LIMIT ?`, store.PageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("store %s: audit: %w", db.path, err)
	}
	defer rows.Close()
	out := []wire.AuditEntry{}
	for rows.Next() {
		var (
			e  wire.AuditEntry
			at int64
		)
		if err := rows.Scan(&at, &e.Token, &e.Role, &e.Remote, &e.Action, &e.Subject, &e.Result, &e.Detail); err != nil {
			return nil, fmt.Errorf("store %s: audit: %w", db.path, err)
		}
		e.At = sqlrow.FromNanos(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (db *DB) writeAudit(ctx context.Context, tx *sql.Tx, b *store.Batch) error {
	if len(b.Audit) == 0 {
		return nil
	}
	stmt := tx.StmtContext(ctx, db.writes.audit)
	for _, e := range b.Audit {
		if _, err := stmt.ExecContext(ctx, sqlrow.Nanos(e.At), e.Token, e.Role, e.Remote, e.Action, e.Subject, e.Result, e.Detail); err != nil {
			return fmt.Errorf("audit %s: %w", e.Action, err)
		}
	}
	return nil
}
