package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

func TestTokens(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	c0, err := db.TokensChanged(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	tok := store.Token{Name: "ci", Role: store.RoleOperator, Hash: []byte{1, 2, 3}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := db.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateToken(ctx, tok); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate name: %v, want ErrExists", err)
	}
	c1, _ := db.TokensChanged(ctx)
	if c1 == c0 {
		t.Error("change counter did not move on create")
	}
	list, err := db.Tokens(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "ci" || list[0].Role != store.RoleOperator ||
		string(list[0].Hash) != "\x01\x02\x03" || !list[0].ExpiresAt.Equal(tok.ExpiresAt) || !list[0].Valid(now) {
		t.Fatalf("tokens: %+v %v", list, err)
	}
	if err := db.RevokeToken(ctx, "ci", now); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeToken(ctx, "nope", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	list, _ = db.Tokens(ctx)
	if list[0].Valid(now) || list[0].RevokedAt.IsZero() {
		t.Errorf("revoked token still valid: %+v", list[0])
	}
	if c2, _ := db.TokensChanged(ctx); c2 == c1 {
		t.Error("change counter did not move on revoke")
	}
}

func TestAuditTrail(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	at := time.Now().UTC()
	b := &store.Batch{Audit: []wire.AuditEntry{
		{At: at, Token: "ops", Role: "operator", Remote: "127.0.0.1", Action: "run", Subject: "c-1", Result: "ok"},
		{At: at.Add(time.Second), Remote: "127.0.0.1", Action: "auth_failure", Result: "denied", Detail: "unknown token"},
	}}
	if err := db.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, err := db.Audit(ctx, 10)
	if err != nil || len(got) != 2 || got[0].Action != "auth_failure" || got[1].Subject != "c-1" || !got[1].At.Equal(at) {
		t.Fatalf("audit: %+v %v", got, err)
	}
}
