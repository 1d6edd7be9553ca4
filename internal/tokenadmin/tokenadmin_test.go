package tokenadmin_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/tokenadmin"
)

func newAdmin(t *testing.T) (*tokenadmin.Admin, *sqlite.DB) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &tokenadmin.Admin{Store: st, Who: "relay-cli:test"}, st
}

// TestCreateListRevoke: tokens with a bound agent and a scope are listed
// with both (an agent's name escaped), every change is audited, and specs
// that make no sense are refused.
func TestCreateListRevoke(t *testing.T) {
	a, st := newAdmin(t)
	ctx := context.Background()
	if _, err := a.Create(ctx, tokenadmin.Spec{Name: "b1", Role: store.RoleAgent, Agent: "box\x1b]0;x\a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create(ctx, tokenadmin.Spec{Name: "ci", Role: store.RoleOperator, Scope: map[string]string{"pool": "ci"}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []tokenadmin.Spec{
		{Name: "x1", Role: store.RoleOperator, Agent: "box"},
		{Name: "x2", Role: store.RoleAdmin, Scope: map[string]string{"pool": "ci"}},
		{Name: "x3", Role: store.RoleAgent, Scope: map[string]string{"pool": "ci"}},
		{Name: "x4", Role: store.RoleAgent, Agent: "box\x1b]0;x\a"}, // bound to b1
		{Name: "b1", Role: store.RoleViewer},                        // name taken
	} {
		if _, err := a.Create(ctx, bad); err == nil {
			t.Errorf("created %+v", bad)
		}
	}
	list, err := a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := tokenadmin.WriteList(&out, list, time.Now()); err != nil {
		t.Fatal(err)
	}
	table := out.String()
	if !strings.Contains(table, `box\x1b]0;x\x07 (not connected yet)`) || !strings.Contains(table, "pool=ci") || strings.Contains(table, "\x1b") {
		t.Errorf("token list:\n%s", table)
	}
	if err := a.Revoke(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "no token named nope") {
		t.Errorf("revoking an unknown token: %v", err)
	}
	entries, err := st.Audit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Token+" "+e.Action+" "+e.Subject)
	}
	joined := strings.Join(actions, "\n")
	for _, want := range []string{"relay-cli:test token_create b1 (agent) for agent", "relay-cli:test token_create ci (operator) scoped to pool=ci", "relay-cli:test token_revoke ci"} {
		if !strings.Contains(joined, want) {
			t.Errorf("audit trail lacks %q:\n%s", want, joined)
		}
	}
}

// TestAuditFailureIsReported: a change whose audit row cannot be written
// says so, instead of passing in silence.
func TestAuditFailureIsReported(t *testing.T) {
	a, st := newAdmin(t)
	ctx := context.Background()
	a.Store = failingAudit{st}
	secret, err := a.Create(ctx, tokenadmin.Spec{Name: "v", Role: store.RoleViewer})
	if secret == "" || err == nil || !strings.Contains(err.Error(), "was done, but not audited") {
		t.Fatalf("create with the audit failing: %q, %v", secret, err)
	}
}

// failingAudit is the real store, whose Apply (the audit row's) fails.
type failingAudit struct{ *sqlite.DB }

func (failingAudit) Apply(context.Context, *store.Batch) error { return errors.New("disk full") }

// TestEnsureAdmin: a first start writes the admin token to a new private
// file; a file in the way (or a link) stops it before a token exists.
func TestEnsureAdmin(t *testing.T) {
	a, st := newAdmin(t)
	ctx := context.Background()
	dir := t.TempDir()
	planted := filepath.Join(dir, "planted.token")
	if err := os.Symlink(filepath.Join(dir, "elsewhere"), planted); err != nil {
		t.Fatal(err)
	}
	if created, err := a.EnsureAdmin(ctx, planted); created || err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("first start over a planted link: %v %v", created, err)
	}
	if toks, _ := st.Tokens(ctx); len(toks) != 0 {
		t.Fatalf("a token was created although its file could not be: %+v", toks)
	}
	path := filepath.Join(dir, "admin.token")
	if created, err := a.EnsureAdmin(ctx, path); !created || err != nil {
		t.Fatalf("first start: %v %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token: %v %v", fi, err)
	}
	b, _ := os.ReadFile(path)
	code, _, err := a.SignInCode(ctx, string(b))
	if err != nil || !strings.HasPrefix(code, "sbc_") {
		t.Fatalf("a sign-in code for the admin token: %q %v", code, err)
	}
	if created, err := a.EnsureAdmin(ctx, filepath.Join(dir, "again.token")); created || err != nil {
		t.Errorf("a second start: %v %v", created, err)
	}
}
