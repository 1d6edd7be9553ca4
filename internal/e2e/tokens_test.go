package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/proctest"
)

// relayCmd runs the relay binary in dir with args and returns its output.
func relayCmd(t *testing.T, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return relayCmdEnv(t, dir, nil, args...)
}

// relayCmdEnv is relayCmd with env added to the environment.
func relayCmdEnv(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "relay"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// TestTokenCommand: relay token reads its flags wherever they stand, shows
// its help without touching a database, binds an agent token at creation,
// lists bindings, and writes a secret only to a file of its own.
func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(t.TempDir(), "sb.db")

	for _, help := range [][]string{{"token", "--help"}, {"token", "create", "--help"}, {"token"}} {
		_, stderr, _ := relayCmd(t, dir, help...)
		if !strings.Contains(stderr, "relay token create --role ROLE") {
			t.Errorf("relay %v: no usage in %q", help, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "var")); !os.IsNotExist(err) {
		t.Errorf("asking for help created var/ in the working directory: %v", err)
	}

	if _, stderr, err := relayCmd(t, dir, "token", "create", "--db", db, "--role", "agent", "--name", "b1", "--agent", "build-1"); err != nil {
		t.Fatalf("create: %v\n%s", err, stderr)
	}
	if _, stderr, err := relayCmd(t, dir, "token", "create", "--db", db, "--role", "agent", "--name", "b2", "--agent", "build-1"); err == nil ||
		!strings.Contains(stderr, "already bound to token b1") {
		t.Errorf("a second token for agent build-1: %v, %q", err, stderr)
	}
	if _, stderr, err := relayCmd(t, dir, "token", "revoke", "b1", "--db", db); err != nil {
		t.Fatalf("revoke with --db after the name: %v\n%s", err, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "var")); !os.IsNotExist(err) {
		t.Errorf("revoke NAME --db DB used the default database: %v", err)
	}
	list, _, err := relayCmd(t, dir, "token", "list", "--db", db)
	if err != nil || !strings.Contains(list, "revoked") {
		t.Fatalf("list after revoke: %v\n%s", err, list)
	}

	// After the revocation the name is free for another token.
	out := filepath.Join(dir, "agent.token")
	if _, stderr, err := relayCmd(t, dir, "token", "create", "--db", db, "--role", "agent", "--name", "b3", "--agent", "build-1", "--out", out); err != nil {
		t.Fatalf("create --out: %v\n%s", err, stderr)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("--out file: %v, mode %v", err, fi.Mode())
	}
	list, _, _ = relayCmd(t, dir, "token", "list", "--db", db)
	if !strings.Contains(list, "build-1 (not connected yet)") {
		t.Errorf("list does not show b3's binding:\n%s", list)
	}

	// --out never writes through a link or over a file.
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.token")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{link, out} {
		_, stderr, err := relayCmd(t, dir, "token", "create", "--db", db, "--role", "viewer", "--name", "v-"+filepath.Base(target), "--out", target)
		if err == nil || !strings.Contains(stderr, "exists already") {
			t.Errorf("--out %s: %v, %q", target, err, stderr)
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
		t.Errorf("the link's target was written: %q", b)
	}
}

// TestRelayRefusesForeignFiles: the relay will not start on a database, or
// an admin token file, that someone else could have planted.
func TestRelayRefusesForeignFiles(t *testing.T) {
	t.Run("admin token is a link", func(t *testing.T) {
		dir := t.TempDir()
		victim := filepath.Join(t.TempDir(), "victim")
		if err := os.WriteFile(victim, []byte("keep\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victim, filepath.Join(dir, "admin.token")); err != nil {
			t.Fatal(err)
		}
		_, stderr, err := relayCmd(t, dir, "--addr", proctest.FreeAddr(t), "--db", filepath.Join(dir, "sb.db"))
		if err == nil || !strings.Contains(stderr, "admin.token exists already") {
			t.Errorf("relay with a planted admin.token: %v, %q", err, stderr)
		}
		if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
			t.Errorf("the relay wrote the admin token through the link: %q", b)
		}
	})
	t.Run("database of another user", func(t *testing.T) {
		dir := t.TempDir()
		db := filepath.Join(dir, "sb.db")
		if err := os.WriteFile(db, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(db, 65534, 65534); err != nil {
			t.Fatalf("give the database to another user (the test needs root): %v", err)
		}
		_, stderr, err := relayCmd(t, dir, "--addr", proctest.FreeAddr(t), "--db", db)
		if err == nil || !strings.Contains(stderr, "belongs to user 65534") {
			t.Errorf("relay on another user's database: %v, %q", err, stderr)
		}
	})
}

// TestSigninLink: relay signin-link prints a link that signs a browser in
// once, with no token in it.
func TestSigninLink(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "sb.db")
	addr := proctest.FreeAddr(t)
	startRelay(t, addr, db, "--secure")
	admin, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatalf("first start wrote no admin token: %v", err)
	}
	link, stderr, err := relayCmd(t, dir, "signin-link", "--db", db, "--url", "http://"+addr)
	if err != nil {
		t.Fatalf("signin-link: %v\n%s", err, stderr)
	}
	link = strings.TrimSpace(link)
	prefix := "http://" + addr + "/#signin=sbc_"
	if !strings.HasPrefix(link, prefix) || strings.Contains(link, strings.TrimSpace(string(admin))) {
		t.Fatalf("link %q", link)
	}
	login := func() int {
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/login", strings.NewReader(`{"code":"`+link[strings.Index(link, "=")+1:]+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://"+addr)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := login(); code != http.StatusOK {
		t.Fatalf("sign in with the link: HTTP %d", code)
	}
	if code := login(); code != http.StatusUnauthorized {
		t.Errorf("the link a second time: HTTP %d, want 401", code)
	}
}
