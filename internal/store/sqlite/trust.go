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
)

var (
	_ store.Sessions      = (*DB)(nil)
	_ store.AgentBindings = (*DB)(nil)
)

// CreateSession stores a session, and drops the sessions and codes that
// have expired.
func (db *DB) CreateSession(ctx context.Context, s store.Session) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		now := sqlrow.Nanos(s.CreatedAt)
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at <= ?", now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM signin_codes WHERE expires_at <= ?", now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO sessions (hash, token, created_at, expires_at) VALUES (?, ?, ?, ?)",
			s.Hash, s.Token, now, sqlrow.Nanos(s.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("store %s: create session for %s: %w", db.path, s.Token, err)
	}
	return nil
}

// Session returns an unexpired session.
func (db *DB) Session(ctx context.Context, hash []byte, now time.Time) (store.Session, error) {
	s := store.Session{Hash: hash}
	var created, expires int64
	err := db.r.QueryRowContext(ctx, "SELECT token, created_at, expires_at FROM sessions WHERE hash = ? AND expires_at > ?",
		hash, sqlrow.Nanos(now)).Scan(&s.Token, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return s, fmt.Errorf("store %s: session: %w", db.path, err)
	}
	s.CreatedAt, s.ExpiresAt = sqlrow.FromNanos(created), sqlrow.FromNanos(expires)
	return s, nil
}

// DeleteSession ends a session.
func (db *DB) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := db.w.ExecContext(ctx, "DELETE FROM sessions WHERE hash = ?", hash); err != nil {
		return fmt.Errorf("store %s: delete session: %w", db.path, err)
	}
	return nil
}

// CreateSignInCode stores a one-time code.
func (db *DB) CreateSignInCode(ctx context.Context, c store.SignInCode) error {
	_, err := db.w.ExecContext(ctx, "INSERT INTO signin_codes (hash, token, expires_at) VALUES (?, ?, ?)",
		c.Hash, c.Token, sqlrow.Nanos(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store %s: create sign-in code for %s: %w", db.path, c.Token, err)
	}
	return nil
}

// UseSignInCode deletes a code and returns its token, if it had not expired.
func (db *DB) UseSignInCode(ctx context.Context, hash []byte, now time.Time) (string, error) {
	var token string
	var expires int64
	err := db.w.QueryRowContext(ctx, "DELETE FROM signin_codes WHERE hash = ? RETURNING token, expires_at", hash).Scan(&token, &expires)
	if err == nil && expires <= sqlrow.Nanos(now) {
		err = sql.ErrNoRows
	}
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store %s: use sign-in code: %w", db.path, err)
	}
	return token, nil
}

// AgentBindings returns every binding, by agent name.
func (db *DB) AgentBindings(ctx context.Context) ([]store.AgentBinding, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT agent_name, agent_id, token, explicit, bound_at FROM agent_bindings ORDER BY agent_name")
	if err != nil {
		return nil, fmt.Errorf("store %s: agent bindings: %w", db.path, err)
	}
	defer rows.Close()
	var out []store.AgentBinding
	for rows.Next() {
		var b store.AgentBinding
		var at int64
		if err := rows.Scan(&b.AgentName, &b.AgentID, &b.Token, &b.Explicit, &at); err != nil {
			return nil, fmt.Errorf("store %s: agent bindings: %w", db.path, err)
		}
		b.BoundAt = sqlrow.FromNanos(at)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store %s: agent bindings: %w", db.path, err)
	}
	return out, nil
}

// BindAgent stores a binding (see store.AgentBindings).
func (db *DB) BindAgent(ctx context.Context, b store.AgentBinding) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		at := sqlrow.Nanos(b.BoundAt)
		if _, err := tx.ExecContext(ctx, sqlrow.DropStaleBindings(question), b.AgentName, b.AgentID, b.Token, at); err != nil {
			return err
		}
		var holder string
		err := tx.QueryRowContext(ctx, sqlrow.OtherBindingHolder(question), b.AgentName, b.AgentID, b.Token).Scan(&holder)
		if err == nil {
			return fmt.Errorf("%w: agent %s (%s) is bound to token %s", store.ErrExists, b.AgentName, b.AgentID, holder)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.ExecContext(ctx, sqlrow.UpsertBinding(question), b.AgentName, b.AgentID, b.Token, b.Explicit, at)
		if err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed") {
			err = fmt.Errorf("%w: agent id %s is bound under another name", store.ErrExists, b.AgentID)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store %s: bind agent %s to token %s: %w", db.path, b.AgentName, b.Token, err)
	}
	return nil
}

// UnbindAgent unbinds an agent id (see store.AgentBindings).
func (db *DB) UnbindAgent(ctx context.Context, agentID string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, q := range sqlrow.UnbindAgent {
			if _, err := tx.ExecContext(ctx, q(question), agentID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store %s: unbind agent %s: %w", db.path, agentID, err)
	}
	return nil
}

// inTx runs f in a write transaction.
func (db *DB) inTx(ctx context.Context, f func(*sql.Tx) error) (err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // err says why
		}
	}()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}
