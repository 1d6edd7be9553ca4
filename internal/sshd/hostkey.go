package sshd

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	gossh "golang.org/x/crypto/ssh"
)

// loadHostKey reads the host key at path, creating it first if there is
// none: an ed25519 key in OpenSSH's format, mode 0600, written to a
// temporary file and linked into place, so that relays starting together
// on one directory end up with the same key and none reads a half-written
// one. A key file that is a link, or that others may read or write, is
// refused, as OpenSSH's sshd refuses it.
func loadHostKey(path string) (gossh.Signer, bool, error) {
	created := false
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if created, err = createHostKey(path); err != nil {
			return nil, false, err
		}
		info, err = os.Lstat(path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("ssh host key: %w", err)
	}
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		return nil, false, fmt.Errorf("ssh host key %s is a symbolic link: give the file itself (--ssh-host-key)", path)
	case info.Mode().Perm()&0o077 != 0:
		return nil, false, fmt.Errorf("ssh host key %s may be read or written by others (mode %#o): chmod 600 %s", path, info.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false, fmt.Errorf("ssh host key: %w", err)
	}
	signer, err := gossh.ParsePrivateKey(b)
	if err != nil {
		return nil, false, fmt.Errorf("ssh host key %s: %w", path, err)
	}
	return signer, created, nil
}

// createHostKey writes a new ed25519 key to path; it reports false when
// another process made one first.
func createHostKey(path string) (bool, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("ssh host key: create its directory: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return false, fmt.Errorf("ssh host key: %w", err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "switchboard relay host key")
	if err != nil {
		return false, fmt.Errorf("ssh host key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".ssh_host_key-*")
	if err != nil {
		return false, fmt.Errorf("ssh host key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, block); err != nil {
		tmp.Close()
		return false, fmt.Errorf("ssh host key: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("ssh host key: write %s: %w", tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("ssh host key: %w", err)
	}
	return true, nil
}
