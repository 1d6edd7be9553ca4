package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
)

var _ store.SSHKeys = (*Store)(nil)

// SSHKeys returns every bound key, by token, then fingerprint.
func (s *Store) SSHKeys(ctx context.Context) ([]store.SSHKey, error) {
	rows, _ := s.r.Query(ctx, sqlrow.SelectSSHKeys)
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.SSHKey, error) { return sqlrow.ScanSSHKey(r) })
	if err != nil {
		return nil, fmt.Errorf("store %s: ssh keys: %w", s.name, err)
	}
	return list, nil
}

// AddSSHKey binds a key to its token (see store.SSHKeys).
func (s *Store) AddSSHKey(ctx context.Context, k store.SSHKey) error {
	err := pgx.BeginFunc(ctx, s.w, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlrow.DropStaleSSHKey(dollar), k.Fingerprint, sqlrow.Nanos(k.AddedAt)); err != nil {
			return err
		}
		var holder string
		err := tx.QueryRow(ctx, sqlrow.SSHKeyHolder(dollar), k.Fingerprint).Scan(&holder)
		if err == nil {
			return fmt.Errorf("%w: key %s is bound to token %s", store.ErrExists, k.Fingerprint, holder)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		_, err = tx.Exec(ctx, sqlrow.InsertSSHKey(dollar), cleanArgs(sqlrow.SSHKeyArgs(&k))...)
		if isUniqueViolation(err) { // another relay bound it meanwhile
			err = fmt.Errorf("%w: key %s was bound meanwhile", store.ErrExists, k.Fingerprint)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store %s: add ssh key %s to token %s: %w", s.name, k.Fingerprint, k.Token, err)
	}
	return nil
}

// RemoveSSHKey unbinds a key from a token.
func (s *Store) RemoveSSHKey(ctx context.Context, token, fingerprint string) error {
	tag, err := s.w.Exec(ctx, sqlrow.DeleteSSHKey(dollar), clean(token), clean(fingerprint))
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store %s: remove ssh key %s from token %s: %w", s.name, fingerprint, token, err)
	}
	return nil
}
