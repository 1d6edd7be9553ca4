package tokenadmin

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"switchboard/internal/auth"
	"switchboard/internal/store"
)

// minRSABits is the shortest RSA key accepted, as OpenSSH's own minimum.
const minRSABits = 2048

// ParseSSHKey reads one public key in authorized_keys form ("ssh-ed25519
// AAAA… comment", as in a .pub file), or the name of a file holding one,
// and returns it as stored: its SHA-256 fingerprint and the key with its
// comment. Options (from=, command=…), certificates, DSA keys and RSA
// keys shorter than 2048 bits are refused, each saying why.
func ParseSSHKey(s string) (store.SSHKey, error) {
	text := strings.TrimSpace(s)
	if b, err := os.ReadFile(text); err == nil && !strings.Contains(text, " ") {
		text = strings.TrimSpace(string(b))
	}
	key, comment, options, rest, err := gossh.ParseAuthorizedKey([]byte(text))
	switch {
	case err != nil:
		return store.SSHKey{}, fmt.Errorf("ssh key %q: want one public key as in a .pub file (ssh-ed25519 AAAA… comment), or such a file's name: %w", shorten(s), err)
	case len(strings.TrimSpace(string(rest))) > 0:
		return store.SSHKey{}, errors.New("give one ssh key at a time: this holds more than one")
	case len(options) > 0:
		return store.SSHKey{}, fmt.Errorf("ssh key options (%s) are not supported: give the key alone", strings.Join(options, ","))
	}
	if err := checkKeyType(key); err != nil {
		return store.SSHKey{}, err
	}
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(key)))
	if comment != "" {
		line += " " + comment
	}
	return store.SSHKey{Fingerprint: gossh.FingerprintSHA256(key), Key: line}, nil
}

func checkKeyType(key gossh.PublicKey) error {
	switch key.Type() {
	case gossh.KeyAlgoDSA:
		return errors.New("DSA ssh keys are refused (OpenSSH dropped them): make an ed25519 key with ssh-keygen -t ed25519")
	case gossh.KeyAlgoRSA:
		ck, ok := key.(gossh.CryptoPublicKey)
		if !ok {
			return errors.New("unreadable RSA key")
		}
		if pk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); !ok || pk.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA ssh keys shorter than %d bits are refused: make an ed25519 key with ssh-keygen -t ed25519", minRSABits)
		}
	}
	if _, cert := key.(*gossh.Certificate); cert {
		return errors.New("ssh certificates are not supported: give the plain public key")
	}
	return nil
}

func shorten(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:37]) + "…"
	}
	return s
}

// AddSSHKey binds a public key (see ParseSSHKey) to the named token, so
// that its holder logs in over SSH as that token, and returns it as
// stored; the token must be valid and one a dashboard may use (viewer,
// operator or admin). A key returned with an error was bound, but not
// audited.
func (a *Admin) AddSSHKey(ctx context.Context, token, key string) (store.SSHKey, error) {
	k, err := ParseSSHKey(key)
	if err != nil {
		return store.SSHKey{}, err
	}
	k.Token, k.AddedAt = token, a.now().UTC()
	if err := a.checkKeyHolder(ctx, token); err != nil {
		return store.SSHKey{}, err
	}
	if err := a.Store.AddSSHKey(ctx, k); err != nil {
		if errors.Is(err, store.ErrExists) {
			return store.SSHKey{}, fmt.Errorf("the key %s is bound to a token already; remove it there first (relay token list shows where): %w", k.Fingerprint, err)
		}
		return store.SSHKey{}, err
	}
	return k, a.audit(ctx, "ssh_key_add", token+" "+k.Fingerprint)
}

// checkNewKeys says why keys cannot be given to a new token, before it is
// made: a key that does not parse, or one a valid token holds.
func (a *Admin) checkNewKeys(ctx context.Context, keys []string, now time.Time) error {
	if len(keys) == 0 {
		return nil
	}
	bound, err := a.Store.SSHKeys(ctx)
	if err != nil {
		return err
	}
	toks, err := a.Store.Tokens(ctx)
	if err != nil {
		return err
	}
	for _, key := range keys {
		k, err := ParseSSHKey(key)
		if err != nil {
			return err
		}
		for _, b := range bound {
			if b.Fingerprint == k.Fingerprint && slices.ContainsFunc(toks, func(t store.Token) bool { return t.Name == b.Token && t.Valid(now) }) {
				return fmt.Errorf("the key %s is bound to token %s already; remove it there first", k.Fingerprint, b.Token)
			}
		}
	}
	return nil
}

// checkKeyHolder says why the named token may not have SSH keys, if so.
func (a *Admin) checkKeyHolder(ctx context.Context, name string) error {
	toks, err := a.Store.Tokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range toks {
		switch {
		case t.Name != name:
			continue
		case !t.Valid(a.now()):
			return fmt.Errorf("token %s was revoked or has expired", name)
		case !auth.Allows(t.Role, auth.ActWatch):
			return fmt.Errorf("token %s is an %s token; SSH keys log in to the dashboard, which needs a viewer, operator or admin token", name, t.Role)
		}
		return nil
	}
	return fmt.Errorf("there is no token named %s", name)
}

// RemoveSSHKey unbinds a key from the named token; key is the key itself
// (or its file) or its fingerprint (SHA256:…). Live SSH sessions of the
// key end within a second.
func (a *Admin) RemoveSSHKey(ctx context.Context, token, key string) error {
	fp := strings.TrimSpace(key)
	if !strings.HasPrefix(fp, "SHA256:") {
		k, err := ParseSSHKey(key)
		if err != nil {
			return err
		}
		fp = k.Fingerprint
	}
	if err := a.Store.RemoveSSHKey(ctx, token, fp); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("token %s has no ssh key %s", token, fp)
		}
		return err
	}
	return a.audit(ctx, "ssh_key_remove", token+" "+fp)
}
