package auth

import (
	"strings"
	"testing"
	"time"

	"switchboard/internal/store"
)

func TestAllows(t *testing.T) {
	acts := []Action{ActRegisterAgent, ActWatch, ActRun, ActInput, ActResize, ActCancel, ActAudit}
	want := map[string]string{ // role -> the actions allowed, in acts order
		store.RoleAgent:    "1000000",
		store.RoleViewer:   "0100000",
		store.RoleOperator: "0111110",
		store.RoleAdmin:    "0111111",
		"root":             "0000000",
	}
	for role, mask := range want {
		for i, act := range acts {
			if got := Allows(role, act); got != (mask[i] == '1') {
				t.Errorf("Allows(%s, %s) = %v", role, act, got)
			}
		}
	}
}

func TestNewTokenAndMatch(t *testing.T) {
	now := time.Now()
	secret, tok, err := NewToken("ci-bot", store.RoleOperator, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, SecretPrefix) || len(secret) < 40 || strings.Contains(string(tok.Hash), secret) {
		t.Errorf("secret %q / hash %x", secret, tok.Hash)
	}
	if !tok.ExpiresAt.Equal(now.Add(time.Hour).UTC()) || !tok.Valid(now) || tok.Valid(now.Add(2*time.Hour)) {
		t.Errorf("expiry: %+v", tok)
	}
	other, tok2, _ := NewToken("viewer", store.RoleViewer, 0, now)
	list := []store.Token{tok, tok2}
	if got, ok := Match(list, secret); !ok || got.Name != "ci-bot" {
		t.Errorf("Match = %+v %v", got, ok)
	}
	if got, ok := Match(list, other); !ok || got.Name != "viewer" || !got.ExpiresAt.IsZero() {
		t.Errorf("Match other = %+v %v", got, ok)
	}
	if _, ok := Match(list, secret+"x"); ok {
		t.Error("a wrong secret matched")
	}
	for _, bad := range [][2]string{{"", "admin"}, {"has space", "admin"}, {"ok", "root"}} {
		if _, _, err := NewToken(bad[0], bad[1], 0, now); err == nil {
			t.Errorf("NewToken(%q, %q) accepted", bad[0], bad[1])
		}
	}
}
