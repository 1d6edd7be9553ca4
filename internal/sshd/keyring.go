package sshd

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"switchboard/internal/auth"
	"switchboard/internal/store"
)

// keyring is the server's copy of the bound keys and the tokens, reloaded
// when the store's token change counter moves (every key change moves it
// too), so that authenticating costs no query while nothing changed.
type keyring struct {
	store Store

	mu      sync.RWMutex
	keys    map[string]boundKey // by fingerprint
	tokens  map[string]store.Token
	version int64
	loaded  bool
}

// boundKey is a key as loaded: the token it logs in as, and its wire form.
type boundKey struct {
	token string
	wire  []byte // the public key, marshalled
}

// refresh reloads keys and tokens if they changed, and reports whether
// they did.
func (k *keyring) refresh(ctx context.Context) (bool, error) {
	v, err := k.store.TokensChanged(ctx)
	if err != nil {
		return false, err
	}
	k.mu.RLock()
	same := k.loaded && v == k.version
	k.mu.RUnlock()
	if same {
		return false, nil
	}
	toks, err := k.store.Tokens(ctx)
	if err != nil {
		return false, err
	}
	list, err := k.store.SSHKeys(ctx)
	if err != nil {
		return false, err
	}
	keys := make(map[string]boundKey, len(list))
	for _, sk := range list {
		pk, _, _, _, err := gossh.ParseAuthorizedKey([]byte(sk.Key))
		if err != nil {
			continue // unusable; relay token add-key never stores one
		}
		keys[sk.Fingerprint] = boundKey{token: sk.Token, wire: pk.Marshal()}
	}
	tokens := make(map[string]store.Token, len(toks))
	for _, t := range toks {
		tokens[t.Name] = t
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.loaded && v < k.version {
		return false, nil // a later load (the watcher's, a login's) got there first
	}
	k.keys, k.tokens, k.version, k.loaded = keys, tokens, v, true
	return true, nil
}

// principal is who an SSH connection acts as.
type principal struct {
	token       store.Token
	fingerprint string // of the key it logged in with
}

// lookup finds the valid dashboard token a key logs in as, or says why
// there is none (for the log: the client is told less, see refusal).
func (k *keyring) lookup(key gossh.PublicKey, now time.Time) (principal, error) {
	fp := gossh.FingerprintSHA256(key)
	k.mu.RLock()
	defer k.mu.RUnlock()
	b, ok := k.keys[fp]
	if !ok || !bytes.Equal(b.wire, key.Marshal()) {
		return principal{fingerprint: fp}, fmt.Errorf("key %s is bound to no token", fp)
	}
	tok, ok := k.tokens[b.token]
	switch {
	case !ok:
		return principal{fingerprint: fp}, fmt.Errorf("key %s is bound to token %s, which is gone", fp, b.token)
	case !tok.Valid(now):
		return principal{fingerprint: fp}, fmt.Errorf("key %s is bound to token %s, which was revoked or has expired", fp, b.token)
	case !auth.Allows(tok.Role, auth.ActWatch):
		return principal{fingerprint: fp}, fmt.Errorf("key %s is bound to token %s, an %s token", fp, b.token, tok.Role)
	}
	return principal{token: tok, fingerprint: fp}, nil
}

// stillValid says why a logged-in principal may no longer act, or "".
func (k *keyring) stillValid(p principal, now time.Time) string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if tok, ok := k.tokens[p.token.Name]; !ok || !tok.Valid(now) {
		return fmt.Sprintf("token %s was revoked or has expired", p.token.Name)
	}
	if b, ok := k.keys[p.fingerprint]; !ok || b.token != p.token.Name {
		return fmt.Sprintf("the key %s was removed from token %s", p.fingerprint, p.token.Name)
	}
	return ""
}
