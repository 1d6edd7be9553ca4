package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"switchboard/internal/store"
)

func sshKeys(t *testing.T, s Store) []store.SSHKey {
	t.Helper()
	list, err := s.SSHKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func testSSHKeys(t *testing.T, h Harness) {
	open := h.New(t)
	s := open(t)
	ctx := context.Background()
	createToken(t, s, "bob", store.RoleViewer, 1, time.Time{})
	createToken(t, s, "alice", store.RoleOperator, 2, time.Time{})
	before, err := s.TokensChanged(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys := []store.SSHKey{
		{Fingerprint: "SHA256:b", Token: "bob", Key: "ssh-ed25519 AAAAb bob@ünï", AddedAt: T0},
		{Fingerprint: "SHA256:a2", Token: "alice", Key: "ssh-rsa AAAAa2", AddedAt: T0.Add(time.Second)},
		{Fingerprint: "SHA256:a1", Token: "alice", Key: "ssh-ed25519 AAAAa1 alice@laptop", AddedAt: T0},
	}
	for _, k := range keys {
		if err := s.AddSSHKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if after, err := open(t).TokensChanged(ctx); err != nil || after == before {
		t.Errorf("token change counter %d before adding keys, %d after (%v): relays would not reload them", before, after, err)
	}
	got := sshKeys(t, open(t)) // as another relay sees them
	want := []store.SSHKey{keys[2], keys[1], keys[0]}
	if len(got) != len(want) {
		t.Fatalf("keys: %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Fingerprint != want[i].Fingerprint || got[i].Token != want[i].Token || got[i].Key != want[i].Key || !got[i].AddedAt.Equal(want[i].AddedAt) {
			t.Errorf("key %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, holder := range []string{"alice", "bob"} {
		err := s.AddSSHKey(ctx, store.SSHKey{Fingerprint: "SHA256:a1", Token: holder, Key: "ssh-ed25519 AAAAa1", AddedAt: T0})
		if !errors.Is(err, store.ErrExists) {
			t.Errorf("binding alice's key to %s again: %v, want ErrExists", holder, err)
		}
	}
	if err := s.RemoveSSHKey(ctx, "bob", "SHA256:a1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing alice's key from bob: %v, want ErrNotFound", err)
	}
	if err := s.RemoveSSHKey(ctx, "alice", "SHA256:a1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveSSHKey(ctx, "alice", "SHA256:a1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing a removed key: %v, want ErrNotFound", err)
	}
	if got := sshKeys(t, s); len(got) != 2 || got[0].Fingerprint != "SHA256:a2" || got[1].Fingerprint != "SHA256:b" {
		t.Errorf("keys after removing one: %+v", got)
	}
}

func testSSHKeyTakenOverFromInvalidToken(t *testing.T, h Harness) {
	s := h.open(t)
	ctx := context.Background()
	createToken(t, s, "old", store.RoleOperator, 1, time.Time{})
	createToken(t, s, "brief", store.RoleOperator, 2, T0.Add(time.Hour))
	createToken(t, s, "new", store.RoleOperator, 3, time.Time{})
	add := func(fp, token string, at time.Time) error {
		return s.AddSSHKey(ctx, store.SSHKey{Fingerprint: fp, Token: token, Key: "ssh-ed25519 AAAA" + fp, AddedAt: at})
	}
	for _, err := range []error{add("SHA256:x", "old", T0), add("SHA256:y", "brief", T0)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := add("SHA256:y", "new", T0.Add(time.Minute)); !errors.Is(err, store.ErrExists) {
		t.Errorf("taking a valid token's key: %v, want ErrExists", err)
	}
	if err := add("SHA256:y", "new", T0.Add(2*time.Hour)); err != nil {
		t.Errorf("taking an expired token's key: %v", err)
	}
	if err := s.RevokeToken(ctx, "old", T0); err != nil {
		t.Fatal(err)
	}
	if got := sshKeys(t, s); len(got) != 1 || got[0].Fingerprint != "SHA256:y" || got[0].Token != "new" {
		t.Fatalf("revoking a token left its keys, or lost another's: %+v", got)
	}
	if err := add("SHA256:x", "new", T0); err != nil {
		t.Errorf("binding a revoked token's key anew: %v", err)
	}
}
