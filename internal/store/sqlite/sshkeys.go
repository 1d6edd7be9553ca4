package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
)

var _ store.SSHKeys = (*DB)(nil)

// SSHKeys returns every bound key, by token, then fingerprint.
func (db *DB) SSHKeys(ctx context.Context) ([]store.SSHKey, error) {
	rows, err := db.r.QueryContext(ctx, sqlrow.SelectSSHKeys)
	if err != nil {
		return nil, fmt.Errorf("store %s: ssh keys: %w", db.path, err)
	}
	defer rows.Close()
	var out []store.SSHKey
	for rows.Next() {
		k, err := sqlrow.ScanSSHKey(rows)
		if err != nil {
			return nil, fmt.Errorf("store %s: ssh keys: %w", db.path, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store %s: ssh keys: %w", db.path, err)
	}
	return out, nil
}

// AddSSHKey binds a key to its token (see store.SSHKeys).
func (db *DB) AddSSHKey(ctx context.Context, k store.SSHKey) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, sqlrow.DropStaleSSHKey(question), k.Fingerprint, sqlrow.Nanos(k.AddedAt)); err != nil {
			return err
		}
		var holder string
		err := tx.QueryRowContext(ctx, sqlrow.SSHKeyHolder(question), k.Fingerprint).Scan(&holder)
		if err == nil {
			return fmt.Errorf("%w: key %s is bound to token %s", store.ErrExists, k.Fingerprint, holder)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.ExecContext(ctx, sqlrow.InsertSSHKey(question), sqlrow.SSHKeyArgs(&k)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("store %s: add ssh key %s to token %s: %w", db.path, k.Fingerprint, k.Token, err)
	}
	return nil
}

// RemoveSSHKey unbinds a key from a token.
func (db *DB) RemoveSSHKey(ctx context.Context, token, fingerprint string) error {
	res, err := db.w.ExecContext(ctx, sqlrow.DeleteSSHKey(question), token, fingerprint)
	if err == nil {
		if n, _ := res.RowsAffected(); n == 0 {
			err = store.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("store %s: remove ssh key %s from token %s: %w", db.path, fingerprint, token, err)
	}
	return nil
}
