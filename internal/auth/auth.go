// Package auth owns what a token is and what each role may do: secrets are
// random, only their SHA-256 is stored, comparison is constant-time, and
// every action a dashboard can take maps to the least role allowed it.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"regexp"
	"time"

	"switchboard/internal/store"
)

// SecretPrefix starts every token secret, so one is easy to recognise (and
// to scan for in places it should not be).
const SecretPrefix = "sbt_"

// Action is something a connection may do.
type Action string

// Actions checked by the relay.
const (
	ActRegisterAgent Action = "register_agent"
	ActWatch         Action = "watch" // connect as a dashboard, subscribe, history
	ActRun           Action = "run"
	ActInput         Action = "input"
	ActResize        Action = "resize"
	ActCancel        Action = "cancel"
	ActRestart       Action = "restart_session" // restart an agent's session program
	ActAudit         Action = "audit"
	ActForgetAgent   Action = "forget_agent"
)

// Allows reports whether role may do act. An agent token may only register
// as an agent, and no dashboard role may.
func Allows(role string, act Action) bool {
	switch act {
	case ActRegisterAgent:
		return role == store.RoleAgent
	case ActWatch:
		return role == store.RoleViewer || role == store.RoleOperator || role == store.RoleAdmin
	case ActRun, ActInput, ActResize, ActCancel, ActRestart:
		return role == store.RoleOperator || role == store.RoleAdmin
	case ActAudit, ActForgetAgent:
		return role == store.RoleAdmin
	}
	return false
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// NewToken makes a token: the secret to hand out once, and the record to
// store.
func NewToken(name, role string, ttl time.Duration, now time.Time) (string, store.Token, error) {
	if !validName.MatchString(name) {
		return "", store.Token{}, fmt.Errorf("token name %q: use 1-64 letters, digits, '.', '_', '@' or '-'", name)
	}
	if !store.ValidRole(role) {
		return "", store.Token{}, fmt.Errorf("role %q: want agent, viewer, operator or admin", role)
	}
	if ttl < 0 {
		return "", store.Token{}, fmt.Errorf("expiry %s is negative", ttl)
	}
	secret := NewSecret(SecretPrefix)
	t := store.Token{Name: name, Role: role, Hash: Hash(secret), CreatedAt: now.UTC()}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl).UTC()
	}
	return secret, t, nil
}

// Hash is what is stored for a secret.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Match finds the token a secret belongs to, comparing every stored hash
// in constant time so that timing says nothing about near misses.
func Match(tokens []store.Token, secret string) (store.Token, bool) {
	h := Hash(secret)
	var found store.Token
	ok := false
	for _, t := range tokens {
		if subtle.ConstantTimeCompare(h, t.Hash) == 1 {
			found, ok = t, true
		}
	}
	return found, ok
}

// Prefixes of the other secrets the relay hands out, so that each is easy
// to recognise.
const (
	SessionPrefix = "sbs_" // a browser session id, in its cookie
	CodePrefix    = "sbc_" // a one-time sign-in code, in a sign-in link
)

// SignInCodeTTL is how long a sign-in link works, if it is not used first.
const SignInCodeTTL = 10 * time.Minute

// NewSecret is a random secret with prefix: 256 bits, URL-safe.
func NewSecret(prefix string) string {
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read does not fail on supported platforms
	return prefix + base64.RawURLEncoding.EncodeToString(raw[:])
}

// NewSession makes a browser session for tok, ending after ttl or when
// tok expires, whichever is first: the id for the cookie, and the record
// to store.
func NewSession(tok store.Token, ttl time.Duration, now time.Time) (string, store.Session) {
	id := NewSecret(SessionPrefix)
	s := store.Session{Hash: Hash(id), Token: tok.Name, CreatedAt: now.UTC(), ExpiresAt: now.Add(ttl).UTC()}
	if !tok.ExpiresAt.IsZero() && tok.ExpiresAt.Before(s.ExpiresAt) {
		s.ExpiresAt = tok.ExpiresAt
	}
	return id, s
}

// NewSignInCode makes a one-time sign-in code for the named token: the
// code for the link, and the record to store.
func NewSignInCode(token string, now time.Time) (string, store.SignInCode) {
	code := NewSecret(CodePrefix)
	return code, store.SignInCode{Hash: Hash(code), Token: token, ExpiresAt: now.Add(SignInCodeTTL).UTC()}
}
