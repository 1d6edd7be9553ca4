package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

func testTokens(t *testing.T, h Harness) {
	s := h.open(t)
	ctx := context.Background()
	c0, err := s.TokensChanged(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	tok := store.Token{Name: "ci", Role: store.RoleOperator, Hash: []byte{1, 2, 3}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, tok); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate name: %v, want ErrExists", err)
	}
	c1, _ := s.TokensChanged(ctx)
	if c1 == c0 {
		t.Error("change counter did not move on create")
	}
	list, err := s.Tokens(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "ci" || list[0].Role != store.RoleOperator ||
		string(list[0].Hash) != "\x01\x02\x03" || !list[0].ExpiresAt.Equal(tok.ExpiresAt) ||
		!list[0].CreatedAt.Equal(now) || !list[0].Valid(now) {
		t.Fatalf("tokens: %+v %v", list, err)
	}
	if err := s.RevokeToken(ctx, "ci", now); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, "ci", now.Add(time.Hour)); err != nil {
		t.Fatalf("revoking again: %v", err)
	}
	if err := s.RevokeToken(ctx, "nope", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	list, _ = s.Tokens(ctx)
	if list[0].Valid(now) || !list[0].RevokedAt.Equal(now) {
		t.Errorf("revoked token: %+v, want revoked at %v, the first revocation", list[0], now)
	}
	if c2, _ := s.TokensChanged(ctx); c2 == c1 {
		t.Error("change counter did not move on revoke")
	}
}

// testTokensChangedByAnotherStore is `relay token create` beside a running
// relay: a second store on the same database changes a token, and the
// first store's counter moves.
func testTokensChangedByAnotherStore(t *testing.T, h Harness) {
	open := h.New(t)
	relay, cli := open(t), open(t)
	ctx := context.Background()
	before, err := relay.TokensChanged(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.CreateToken(ctx, store.Token{Name: "x", Role: store.RoleViewer, Hash: []byte{1}, CreatedAt: T0}); err != nil {
		t.Fatal(err)
	}
	after, err := relay.TokensChanged(ctx)
	if err != nil || after == before {
		t.Fatalf("counter %d before, %d after (%v): the change did not show", before, after, err)
	}
	if list, err := relay.Tokens(ctx); err != nil || len(list) != 1 {
		t.Fatalf("tokens seen by the other store: %+v (%v)", list, err)
	}
}

func testAuditTrail(t *testing.T, h Harness) {
	s := h.open(t)
	ctx := context.Background()
	if got, err := s.Audit(ctx, 10); err != nil || len(got) != 0 {
		t.Fatalf("empty audit: %+v (%v)", got, err)
	}
	at := time.Now().UTC()
	Apply(t, s, store.Batch{Audit: []wire.AuditEntry{
		{At: at, Token: "ops", Role: "operator", Remote: "127.0.0.1", Action: "run", Subject: "c-1", Result: "ok"},
		{At: at.Add(time.Second), Remote: "127.0.0.1", Action: "auth_failure", Result: "denied", Detail: "unknown token"},
	}})
	got, err := s.Audit(ctx, 10)
	if err != nil || len(got) != 2 || got[0].Action != "auth_failure" || got[0].Detail != "unknown token" ||
		got[1].Subject != "c-1" || got[1].Token != "ops" || got[1].Role != "operator" || !got[1].At.Equal(at) {
		t.Fatalf("audit: %+v %v", got, err)
	}
	// Entries come back newest first by when they were stored, a page at a
	// time.
	var more []wire.AuditEntry
	for i := range store.PageMax + 10 {
		more = append(more, wire.AuditEntry{At: at, Action: "connect", Subject: fmt.Sprint(i), Result: "ok"})
	}
	Apply(t, s, store.Batch{Audit: more})
	for _, tt := range []struct{ limit, want int }{{0, store.PageDefault}, {3, 3}, {5000, store.PageMax}} {
		got, err := s.Audit(ctx, tt.limit)
		if err != nil || len(got) != tt.want || got[0].Subject != fmt.Sprint(store.PageMax+9) || got[len(got)-1].Subject != fmt.Sprint(store.PageMax+10-tt.want) {
			t.Fatalf("Audit(%d): %d entries (%v), want the newest %d", tt.limit, len(got), err, tt.want)
		}
	}
}
