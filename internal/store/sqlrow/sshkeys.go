package sqlrow

import (
	"fmt"

	"switchboard/internal/store"
)

// SSH keys, in the SQL both stores share (parameters numbered as in
// trust.go).

// SSHKeyColumns are the ssh_keys table's columns, the key first.
var SSHKeyColumns = []string{"fingerprint", "token", "public_key", "added_at"}

// SSHKeyArgs are k's values for SSHKeyColumns.
func SSHKeyArgs(k *store.SSHKey) []any {
	return []any{k.Fingerprint, k.Token, k.Key, Nanos(k.AddedAt)}
}

// ScanSSHKey reads a row of SSHKeyColumns.
func ScanSSHKey(row interface{ Scan(...any) error }) (store.SSHKey, error) {
	var k store.SSHKey
	var at int64
	if err := row.Scan(&k.Fingerprint, &k.Token, &k.Key, &at); err != nil {
		return k, err
	}
	k.AddedAt = FromNanos(at)
	return k, nil
}

// SelectSSHKeys lists every key, by token, then fingerprint.
var SelectSSHKeys = "SELECT " + List("", SSHKeyColumns) + " FROM ssh_keys ORDER BY token, fingerprint"

// DropStaleSSHKey deletes the binding of a fingerprint (the first argument)
// held by a token that is no longer valid at the second (unix
// nanoseconds): revoked, expired or gone.
func DropStaleSSHKey(param func(int) string) string {
	return fmt.Sprintf(`DELETE FROM ssh_keys WHERE fingerprint = %s
		AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.name = ssh_keys.token
			AND t.revoked_at = 0 AND (t.expires_at = 0 OR t.expires_at > %s))`,
		param(1), param(2))
}

// InsertSSHKey inserts a row of SSHKeyColumns.
func InsertSSHKey(param func(int) string) string {
	return fmt.Sprintf("INSERT INTO ssh_keys (%s) VALUES (%s, %s, %s, %s)",
		List("", SSHKeyColumns), param(1), param(2), param(3), param(4))
}

// SSHKeyHolder selects the token holding a fingerprint.
func SSHKeyHolder(param func(int) string) string {
	return "SELECT token FROM ssh_keys WHERE fingerprint = " + param(1)
}

// DeleteSSHKey deletes the binding of a fingerprint (the second argument)
// to a token (the first).
func DeleteSSHKey(param func(int) string) string {
	return fmt.Sprintf("DELETE FROM ssh_keys WHERE token = %s AND fingerprint = %s", param(1), param(2))
}
