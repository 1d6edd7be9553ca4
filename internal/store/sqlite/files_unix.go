//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// The database holds every byte of output and every token's hash, so
// only its owner may read it, and only its owner may be able to replace
// it: a database another user made, or a link to one, would be adopted
// with whatever it holds, and one in a directory others can write could
// be swapped for one.

// prepareFiles checks the database's directory and files before SQLite
// opens them, and creates a new database readable only by its owner;
// SQLite gives the -wal and -shm files the database's mode.
func prepareFiles(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("database directory: %w", err)
	}
	if err := ownedBy(dir, fi); err != nil {
		return err
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("database directory %s can be written by other users (mode %04o): another user could replace the database; chmod go-w %s, or use a directory of your own",
			dir, fi.Mode().Perm(), dir)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := checkFile(p); err != nil {
			return err
		}
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil // checked above
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create the database: %w", err)
	}
	return f.Close()
}

// checkFile refuses a file of the database that is a link, belongs to
// another user or can be written by others, and makes one that others
// can read private.
func checkFile(p string) error {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s is a symbolic link: the relay opens only a database file of its own; remove the link", p)
	}
	if err := ownedBy(p, fi); err != nil {
		return err
	}
	perm := fi.Mode().Perm()
	if perm&0o022 != 0 {
		return fmt.Errorf("%s can be written by other users (mode %04o): it may have been tampered with; check it, then chmod 600 %s", p, perm, p)
	}
	if perm&0o077 != 0 {
		if err := os.Chmod(p, 0o600); err != nil {
			return fmt.Errorf("%s can be read by other users (mode %04o) and could not be made private: %w", p, perm, err)
		}
	}
	return nil
}

// ownedBy refuses a file or directory that belongs to another user.
func ownedBy(p string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if me := os.Geteuid(); int(st.Uid) != me {
		return fmt.Errorf("%s belongs to user %d, not to this user (%d): the relay uses only a database, and a directory for it, of its own", p, st.Uid, me)
	}
	return nil
}
