//go:build unix

package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// someoneElse is a user id that is not this process's.
func someoneElse() int {
	if os.Geteuid() == 65534 {
		return 65533
	}
	return 65534
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestFilesPrivate: a new database, and the -wal and -shm files SQLite
// makes beside it, are readable by their owner only; an existing database
// others could read is made private.
func TestFilesPrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sb.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Apply(context.Background(), &store.Batch{Agents: []wire.Agent{{AgentInfo: wire.AgentInfo{ID: "a", Name: "a"}}}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if m := mode(t, p); m != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", filepath.Base(p), m)
		}
	}
	db.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err = Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if m := mode(t, path); m != 0o600 {
		t.Errorf("a database others could read: mode %04o after opening, want 0600", m)
	}
}

// TestFilesRefused: a database that another user made, or could replace,
// is refused with a message that says why, and nothing is adopted.
func TestFilesRefused(t *testing.T) {
	cases := []struct {
		name, want string
		setup      func(t *testing.T, dir, path string) string // returns the path to open
	}{
		{"a link in the database's place", "is a symbolic link", func(t *testing.T, dir, path string) string {
			other := filepath.Join(t.TempDir(), "theirs.db")
			if err := os.WriteFile(other, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(other, path); err != nil {
				t.Fatal(err)
			}
			return path
		}},
		{"a link as the -wal file", "sb.db-wal is a symbolic link", func(t *testing.T, dir, path string) string {
			if err := os.Symlink(filepath.Join(t.TempDir(), "x"), path+"-wal"); err != nil {
				t.Fatal(err)
			}
			return path
		}},
		{"a database others can write", "can be written by other users", func(t *testing.T, dir, path string) string {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o666); err != nil {
				t.Fatal(err)
			}
			return path
		}},
		{"a directory others can write", "chmod go-w", func(t *testing.T, dir, path string) string {
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			return path
		}},
		{"a database another user made", "belongs to user", func(t *testing.T, dir, path string) string {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			chown(t, path)
			return path
		}},
		{"a directory another user owns", "belongs to user", func(t *testing.T, dir, path string) string {
			chown(t, dir)
			return path
		}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "var")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := tt.setup(t, dir, filepath.Join(dir, "sb.db"))
			db, err := Open(context.Background(), path)
			if err == nil {
				db.Close()
				t.Fatalf("opened %s", path)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to say %q", err, tt.want)
			}
			var st syscall.Stat_t
			if syscall.Lstat(path, &st) == nil && st.Size > 0 && tt.name != "a link in the database's place" {
				t.Errorf("the refused database was written to")
			}
		})
	}
}

// chown gives p to another user, as that user's own file would be. It
// needs root, as the suite has on its machines and in CI.
func chown(t *testing.T, p string) {
	t.Helper()
	if err := os.Chown(p, someoneElse(), someoneElse()); err != nil {
		t.Fatalf("give %s to another user (the test needs root): %v", p, err)
	}
}
