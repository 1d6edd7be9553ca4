package sqlrow

import (
	"database/sql"
	"fmt"

	"switchboard/internal/store"
)

// Agent bindings, in the SQL both stores share. Each statement numbers its
// parameters in the order they appear, so SQLite's ? and PostgreSQL's $n
// bind the same arguments.

// DropStaleBindings deletes the bindings of a name or id (the first two
// arguments) held by a token other than the third that is no longer valid
// at the fourth (unix nanoseconds): revoked, expired or gone.
func DropStaleBindings(param func(int) string) string {
	return fmt.Sprintf(`DELETE FROM agent_bindings
		WHERE (agent_name = %s OR (agent_id = %s AND agent_id <> '')) AND token <> %s
		AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.name = agent_bindings.token
			AND t.revoked_at = 0 AND (t.expires_at = 0 OR t.expires_at > %s))`,
		param(1), param(2), param(3), param(4))
}

// OtherBindingHolder selects a token other than the third argument holding
// a binding of the name or id given first.
func OtherBindingHolder(param func(int) string) string {
	return fmt.Sprintf(`SELECT token FROM agent_bindings
		WHERE (agent_name = %s OR (agent_id = %s AND agent_id <> '')) AND token <> %s LIMIT 1`,
		param(1), param(2), param(3))
}

// UpsertBinding inserts a binding (name, id, token, explicit, bound at),
// or fills in the id of the name's binding and keeps it explicit if
// either is.
func UpsertBinding(param func(int) string) string {
	return fmt.Sprintf(`INSERT INTO agent_bindings (agent_name, agent_id, token, explicit, bound_at)
		VALUES (%s, %s, %s, %s, %s)
		ON CONFLICT (agent_name) DO UPDATE SET
			agent_id = CASE WHEN excluded.agent_id <> '' THEN excluded.agent_id ELSE agent_bindings.agent_id END,
			explicit = CASE WHEN excluded.explicit THEN excluded.explicit ELSE agent_bindings.explicit END,
			bound_at = excluded.bound_at`,
		param(1), param(2), param(3), param(4), param(5))
}

// UnbindAgent is what unbinding an agent (its id the only argument of
// each) does: the bindings its first connection made go, and a binding
// made with its token keeps the name for a new id.
var UnbindAgent = []func(param func(int) string) string{
	func(p func(int) string) string {
		return "DELETE FROM agent_bindings WHERE agent_id = " + p(1) + " AND NOT explicit"
	},
	func(p func(int) string) string {
		return "UPDATE agent_bindings SET agent_id = '' WHERE agent_id = " + p(1)
	},
}

// ForgetAgent is what forgetting an agent does: its row goes, and it is
// unbound.
var ForgetAgent = append([]func(param func(int) string) string{
	func(p func(int) string) string { return "DELETE FROM agents WHERE id = " + p(1) },
}, UnbindAgent...)

// RevokeCascade is what revoking a token (its name the only argument of
// each) ends besides the token: its sessions, codes and agent bindings.
var RevokeCascade = []func(param func(int) string) string{
	func(p func(int) string) string { return "DELETE FROM sessions WHERE token = " + p(1) },
	func(p func(int) string) string { return "DELETE FROM signin_codes WHERE token = " + p(1) },
	func(p func(int) string) string { return "DELETE FROM agent_bindings WHERE token = " + p(1) },
	func(p func(int) string) string { return "DELETE FROM ssh_keys WHERE token = " + p(1) },
}

// TokenColumns are the tokens table's columns, the key first.
var TokenColumns = []string{"name", "role", "hash", "created_at", "expires_at", "revoked_at", "scope"}

// TokenArgs are t's values for TokenColumns.
func TokenArgs(t *store.Token) []any {
	return []any{t.Name, t.Role, t.Hash, Nanos(t.CreatedAt), Nanos(t.ExpiresAt), Nanos(t.RevokedAt), JSON(t.Scope)}
}

// ScanToken reads a row of TokenColumns.
func ScanToken(s Scanner) (store.Token, error) {
	var (
		t                 store.Token
		created, exp, rev int64
		scope             sql.NullString
	)
	if err := s.Scan(&t.Name, &t.Role, &t.Hash, &created, &exp, &rev, &scope); err != nil {
		return t, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = FromNanos(created), FromNanos(exp), FromNanos(rev)
	if err := parseJSON(scope, &t.Scope); err != nil {
		return t, fmt.Errorf("token %s scope: %w", t.Name, err)
	}
	return t, nil
}
