package store

import (
	"context"
	"time"
)

// SSHKey is an SSH public key bound to a token: whoever holds its private
// key opens the dashboard and runs the CLI over SSH (relay --ssh-addr) as
// that token, with its role, scope, expiry and revocation. Only the public
// half is ever stored.
type SSHKey struct {
	// Fingerprint is the key's SHA-256 fingerprint as ssh-keygen -l
	// prints it ("SHA256:…"); a key is bound to at most one token.
	Fingerprint string
	Token       string // name of the token it logs in as
	// Key is the key in authorized_keys form without options: its type,
	// its base64 and any comment ("ssh-ed25519 AAAA… alice@laptop").
	Key     string
	AddedAt time.Time
}

// SSHKeys stores which token each SSH public key logs in as. A change
// moves the counter of Auth.TokensChanged, so SSH front ends reload keys
// with the tokens; revoking a token removes its keys.
type SSHKeys interface {
	// SSHKeys returns every bound key, by token name, then fingerprint.
	SSHKeys(ctx context.Context) ([]SSHKey, error)
	// AddSSHKey binds k.Key to k.Token. A key bound to a token that is
	// revoked, expired at k.AddedAt or gone is taken over; ErrExists if a
	// valid token holds it (k.Token included).
	AddSSHKey(ctx context.Context, k SSHKey) error
	// RemoveSSHKey unbinds the key with this fingerprint from the named
	// token; ErrNotFound if that token holds no such key.
	RemoveSSHKey(ctx context.Context, token, fingerprint string) error
}
