package tokenadmin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlite"
)

// newKey is a fresh ed25519 public key in authorized_keys form.
func newKey(t *testing.T, comment string) (line, fingerprint string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k))) + " " + comment, gossh.FingerprintSHA256(k)
}

func newAdmin(t *testing.T) *Admin {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &Admin{Store: db, Who: "test"}
}

func TestParseSSHKey(t *testing.T) {
	line, fp := newKey(t, "alice@laptop")
	file := filepath.Join(t.TempDir(), "id_ed25519.pub")
	if err := os.WriteFile(file, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{line, "  " + line + "\n", file} {
		k, err := ParseSSHKey(in)
		if err != nil || k.Fingerprint != fp || k.Key != line {
			t.Errorf("ParseSSHKey(%q) = %+v, %v; want %s %q", in, k, err, fp, line)
		}
	}
	other, _ := newKey(t, "")
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallPub, _ := gossh.NewPublicKey(&small.PublicKey)
	for _, tc := range []struct{ in, want string }{
		{"", "want one public key"},
		{"ssh-ed25519 not-base64", "want one public key"},
		{`from="10.0.0.1" ` + line, "options (from=\"10.0.0.1\") are not supported"},
		{line + "\n" + other, "one ssh key at a time"},
		{string(gossh.MarshalAuthorizedKey(smallPub)), "shorter than 2048 bits"},
	} {
		if _, err := ParseSSHKey(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSSHKey(%q): %v, want an error saying %q", shorten(tc.in), err, tc.want)
		}
	}
}

func TestSSHKeysOfTokens(t *testing.T) {
	a := newAdmin(t)
	ctx := context.Background()
	alice, aliceFP := newKey(t, "alice@laptop")
	if _, err := a.Create(ctx, Spec{Name: "alice", Role: store.RoleOperator, SSHKeys: []string{alice}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create(ctx, Spec{Name: "bob", Role: store.RoleViewer, SSHKeys: []string{alice}}); err == nil ||
		!strings.Contains(err.Error(), "bound to token alice") {
		t.Errorf("a new token with alice's key: %v", err)
	}
	if _, err := a.Create(ctx, Spec{Name: "carol", Role: store.RoleViewer, SSHKeys: []string{"ssh-ed25519 garbage"}}); err == nil {
		t.Error("a new token with a key that does not parse was made")
	}
	if _, err := a.Create(ctx, Spec{Name: "b1", Role: store.RoleAgent, SSHKeys: []string{alice}}); err == nil ||
		!strings.Contains(err.Error(), "agent token cannot have SSH keys") {
		t.Errorf("an agent token with an ssh key: %v", err)
	}
	// Refused creations leave no token behind: the names are free.
	for _, name := range []string{"bob", "carol"} {
		if _, err := a.Create(ctx, Spec{Name: name, Role: store.RoleViewer}); err != nil {
			t.Errorf("create %s after a refused attempt: %v", name, err)
		}
	}
	bobKey, bobFP := newKey(t, "")
	if _, err := a.AddSSHKey(ctx, "bob", bobKey); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddSSHKey(ctx, "bob", alice); err == nil {
		t.Error("alice's key was bound to bob too")
	}
	if _, err := a.AddSSHKey(ctx, "nobody", bobKey); err == nil || !strings.Contains(err.Error(), "no token named nobody") {
		t.Errorf("a key for a token that does not exist: %v", err)
	}
	if _, err := a.Create(ctx, Spec{Name: "b2", Role: store.RoleAgent}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddSSHKey(ctx, "b2", bobKey); err == nil || !strings.Contains(err.Error(), "agent token") {
		t.Errorf("a key for an agent token: %v", err)
	}

	var out bytes.Buffer
	list, err := a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteList(&out, list, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), aliceFP+" (alice@laptop)") || !strings.Contains(out.String(), bobFP) ||
		!strings.Contains(out.String(), "SSH KEYS") {
		t.Errorf("token list does not show the keys:\n%s", out.String())
	}

	if err := a.RemoveSSHKey(ctx, "bob", bobFP); err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveSSHKey(ctx, "bob", bobKey); err == nil || !strings.Contains(err.Error(), "has no ssh key") {
		t.Errorf("removing a removed key: %v", err)
	}
	if err := a.Revoke(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddSSHKey(ctx, "alice", alice); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("a key for a revoked token: %v", err)
	}
	if _, err := a.AddSSHKey(ctx, "bob", alice); err != nil {
		t.Errorf("the key of a revoked token for another: %v", err)
	}
	entries, err := a.Store.Audit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		if strings.HasPrefix(e.Action, "ssh_key") {
			actions = append(actions, e.Action+" "+e.Subject)
		}
	}
	if want := "ssh_key_add bob " + aliceFP; len(actions) != 4 || actions[0] != want {
		t.Errorf("audited key changes, newest first: %q; want 4, the newest %q", actions, want)
	}
}
