package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
)

var (
	_ store.Sessions      = (*Store)(nil)
	_ store.AgentBindings = (*Store)(nil)
)

// CreateSession stores a session, and drops the sessions and codes that
// have expired.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	now := sqlrow.Nanos(sess.CreatedAt)
	err := pgx.BeginFunc(ctx, s.w, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM sessions WHERE expires_at <= $1", now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM signin_codes WHERE expires_at <= $1", now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO sessions (hash, token, created_at, expires_at) VALUES ($1, $2, $3, $4)",
			sess.Hash, clean(sess.Token), now, sqlrow.Nanos(sess.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("store %s: create session for %s: %w", s.name, sess.Token, err)
	}
	return nil
}

// Session returns an unexpired session.
func (s *Store) Session(ctx context.Context, hash []byte, now time.Time) (store.Session, error) {
	sess := store.Session{Hash: hash}
	var created, expires int64
	err := s.r.QueryRow(ctx, "SELECT token, created_at, expires_at FROM sessions WHERE hash = $1 AND expires_at > $2",
		hash, sqlrow.Nanos(now)).Scan(&sess.Token, &created, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return sess, fmt.Errorf("store %s: session: %w", s.name, err)
	}
	sess.CreatedAt, sess.ExpiresAt = sqlrow.FromNanos(created), sqlrow.FromNanos(expires)
	return sess, nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := s.w.Exec(ctx, "DELETE FROM sessions WHERE hash = $1", hash); err != nil {
		return fmt.Errorf("store %s: delete session: %w", s.name, err)
	}
	return nil
}

// CreateSignInCode stores a one-time code.
func (s *Store) CreateSignInCode(ctx context.Context, c store.SignInCode) error {
	_, err := s.w.Exec(ctx, "INSERT INTO signin_codes (hash, token, expires_at) VALUES ($1, $2, $3)",
		c.Hash, clean(c.Token), sqlrow.Nanos(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store %s: create sign-in code for %s: %w", s.name, c.Token, err)
	}
	return nil
}

// UseSignInCode deletes a code and returns its token, if it had not expired.
func (s *Store) UseSignInCode(ctx context.Context, hash []byte, now time.Time) (string, error) {
	var token string
	var expires int64
	err := s.w.QueryRow(ctx, "DELETE FROM signin_codes WHERE hash = $1 RETURNING token, expires_at", hash).Scan(&token, &expires)
	if err == nil && expires <= sqlrow.Nanos(now) {
		err = pgx.ErrNoRows
	}
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store %s: use sign-in code: %w", s.name, err)
	}
	return token, nil
}

// AgentBindings returns every binding, by agent name.
func (s *Store) AgentBindings(ctx context.Context) ([]store.AgentBinding, error) {
	rows, _ := s.r.Query(ctx, "SELECT agent_name, agent_id, token, explicit, bound_at FROM agent_bindings ORDER BY agent_name")
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AgentBinding, error) {
		var b store.AgentBinding
		var at int64
		err := r.Scan(&b.AgentName, &b.AgentID, &b.Token, &b.Explicit, &at)
		b.BoundAt = sqlrow.FromNanos(at)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: agent bindings: %w", s.name, err)
	}
	return list, nil
}

// BindAgent stores a binding (see store.AgentBindings).
func (s *Store) BindAgent(ctx context.Context, b store.AgentBinding) error {
	name, id, token, at := clean(b.AgentName), clean(b.AgentID), clean(b.Token), sqlrow.Nanos(b.BoundAt)
	err := pgx.BeginFunc(ctx, s.w, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlrow.DropStaleBindings(dollar), name, id, token, at); err != nil {
			return err
		}
		var holder string
		err := tx.QueryRow(ctx, sqlrow.OtherBindingHolder(dollar), name, id, token).Scan(&holder)
		if err == nil {
			return fmt.Errorf("%w: agent %s (%s) is bound to token %s", store.ErrExists, name, id, holder)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		_, err = tx.Exec(ctx, sqlrow.UpsertBinding(dollar), name, id, token, b.Explicit, at)
		if isUniqueViolation(err) {
			err = fmt.Errorf("%w: agent id %s is bound under another name", store.ErrExists, id)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store %s: bind agent %s to token %s: %w", s.name, b.AgentName, b.Token, err)
	}
	return nil
}

// UnbindAgent unbinds an agent id (see store.AgentBindings).
func (s *Store) UnbindAgent(ctx context.Context, agentID string) error {
	err := pgx.BeginFunc(ctx, s.w, func(tx pgx.Tx) error {
		for _, q := range sqlrow.UnbindAgent {
			if _, err := tx.Exec(ctx, q(dollar), clean(agentID)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store %s: unbind agent %s: %w", s.name, agentID, err)
	}
	return nil
}
