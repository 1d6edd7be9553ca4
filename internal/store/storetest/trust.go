package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

func createToken(t *testing.T, s Store, name, role string, hash byte, expires time.Time) {
	t.Helper()
	tok := store.Token{Name: name, Role: role, Hash: []byte{hash}, CreatedAt: T0, ExpiresAt: expires}
	if err := s.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}

func testTokenScope(t *testing.T, h Harness) {
	s := h.open(t)
	ctx := context.Background()
	tok := store.Token{Name: "ci-ops", Role: store.RoleOperator, Hash: []byte{7}, CreatedAt: T0,
		Scope: wire.Strings{"pool": "ci", "team": "ünï"}}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	createToken(t, s, "all", store.RoleViewer, 8, time.Time{})
	list, err := s.Tokens(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("tokens: %+v (%v)", list, err)
	}
	if list[0].Scope != nil || len(list[1].Scope) != 2 || list[1].Scope["pool"] != "ci" || list[1].Scope["team"] != "ünï" {
		t.Errorf("scopes read back: %v and %v, want none and %v", list[0].Scope, list[1].Scope, tok.Scope)
	}
}

func testSessions(t *testing.T, h Harness) {
	s := h.open(t)
	ctx := context.Background()
	old := store.Session{Hash: []byte("old"), Token: "admin", CreatedAt: T0, ExpiresAt: T0.Add(time.Minute)}
	if err := s.CreateSession(ctx, old); err != nil {
		t.Fatal(err)
	}
	got, err := s.Session(ctx, []byte("old"), T0.Add(time.Second))
	if err != nil || got.Token != "admin" || !got.CreatedAt.Equal(T0) || !got.ExpiresAt.Equal(old.ExpiresAt) {
		t.Fatalf("session: %+v (%v)", got, err)
	}
	if _, err := s.Session(ctx, []byte("old"), T0.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired session: %v, want ErrNotFound", err)
	}
	if _, err := s.Session(ctx, []byte("none"), T0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown session: %v, want ErrNotFound", err)
	}
	// A new session clears the expired ones away.
	later := T0.Add(time.Hour)
	if err := s.CreateSession(ctx, store.Session{Hash: []byte("new"), Token: "ops", CreatedAt: later, ExpiresAt: later.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, []byte("old"), T0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired session outlived the creation of another: %v", err)
	}
	if err := s.DeleteSession(ctx, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, []byte("new"), later); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted session: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, []byte("new")); err != nil {
		t.Errorf("deleting a deleted session: %v", err)
	}
}

func testSignInCodes(t *testing.T, h Harness) {
	s := h.open(t)
	ctx := context.Background()
	for _, c := range []store.SignInCode{
		{Hash: []byte("a"), Token: "admin", ExpiresAt: T0.Add(time.Minute)},
		{Hash: []byte("b"), Token: "ops", ExpiresAt: T0.Add(time.Minute)},
	} {
		if err := s.CreateSignInCode(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if tok, err := s.UseSignInCode(ctx, []byte("a"), T0); err != nil || tok != "admin" {
		t.Fatalf("use code: %q (%v)", tok, err)
	}
	if _, err := s.UseSignInCode(ctx, []byte("a"), T0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a code used twice: %v, want ErrNotFound", err)
	}
	if _, err := s.UseSignInCode(ctx, []byte("b"), T0.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired code: %v, want ErrNotFound", err)
	}
	if _, err := s.UseSignInCode(ctx, []byte("b"), T0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired code, tried once, works after: %v", err)
	}
}

func bindings(t *testing.T, s Store) map[string]store.AgentBinding {
	t.Helper()
	list, err := s.AgentBindings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]store.AgentBinding{}
	for _, b := range list {
		m[b.AgentName] = b
	}
	return m
}

func testAgentBindings(t *testing.T, h Harness) {
	s := h.open(t)
	ctx := context.Background()
	createToken(t, s, "t1", store.RoleAgent, 1, time.Time{})
	createToken(t, s, "t2", store.RoleAgent, 2, time.Time{})
	createToken(t, s, "gone", store.RoleAgent, 3, T0.Add(time.Minute))
	c0, _ := s.TokensChanged(ctx)
	bind := func(name, id, token string, explicit bool, at time.Time) error {
		return s.BindAgent(ctx, store.AgentBinding{AgentName: name, AgentID: id, Token: token, Explicit: explicit, BoundAt: at})
	}
	if err := bind("build-1", "", "t1", true, T0); err != nil {
		t.Fatal(err)
	}
	if c1, _ := s.TokensChanged(ctx); c1 == c0 {
		t.Error("binding did not move the change counter")
	}
	// The first connection fills in the id; the binding stays explicit.
	if err := bind("build-1", "a-1", "t1", false, T0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if b := bindings(t, s)["build-1"]; b.AgentID != "a-1" || b.Token != "t1" || !b.Explicit || !b.BoundAt.Equal(T0.Add(time.Second)) {
		t.Fatalf("binding: %+v", b)
	}
	// Another valid token may claim neither the name nor the id.
	for _, claim := range [][2]string{{"build-1", "a-9"}, {"other", "a-1"}} {
		if err := bind(claim[0], claim[1], "t2", false, T0); !errors.Is(err, store.ErrExists) {
			t.Errorf("t2 claiming %v: %v, want ErrExists", claim, err)
		}
	}
	// The same token may not give its id a second name.
	if err := bind("build-2", "a-1", "t1", false, T0); !errors.Is(err, store.ErrExists) {
		t.Errorf("a second name for a-1: %v, want ErrExists", err)
	}
	// A binding of an expired token is free to take.
	if err := bind("old", "a-old", "gone", false, T0); err != nil {
		t.Fatal(err)
	}
	if err := bind("old", "a-old", "t2", false, T0.Add(2*time.Minute)); err != nil {
		t.Fatalf("taking over the binding of an expired token: %v", err)
	}
	if b := bindings(t, s)["old"]; b.Token != "t2" || b.AgentID != "a-old" {
		t.Errorf("binding taken over: %+v", b)
	}
	if n := len(bindings(t, s)); n != 2 {
		t.Errorf("%d bindings, want 2: %+v", n, bindings(t, s))
	}
}

func testForgetAgent(t *testing.T, h Harness) {
	open := h.New(t)
	s := open(t)
	ctx := context.Background()
	createToken(t, s, "t1", store.RoleAgent, 1, time.Time{})
	createToken(t, s, "t2", store.RoleAgent, 2, time.Time{})
	for _, b := range []store.AgentBinding{
		{AgentName: "a", AgentID: "id-a", Token: "t1", BoundAt: T0},
		{AgentName: "b", AgentID: "id-b", Token: "t2", Explicit: true, BoundAt: T0},
	} {
		if err := s.BindAgent(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	a, b := FullAgent("id-a"), FullAgent("id-b")
	cmd := FullCommand("c-a")
	cmd.AgentID = "id-a"
	Apply(t, s, store.Batch{Agents: []wire.Agent{a, b}, Commands: []wire.Command{cmd}})
	Apply(t, s, store.Batch{ForgetAgents: []string{"id-a", "id-b", "id-unknown"}})
	if st := Load(t, open(t)); len(st.Agents) != 0 {
		t.Errorf("agents after forgetting them: %+v", st.Agents)
	}
	if got := history(t, s, store.HistoryQuery{AgentID: "id-a"}); len(got) != 1 || got[0].ID != "c-a" {
		t.Errorf("history of a forgotten agent: %+v, want its command kept", got)
	}
	bs := bindings(t, s)
	if _, ok := bs["a"]; ok || len(bs) != 1 || bs["b"].AgentID != "" || bs["b"].Token != "t2" {
		t.Errorf("bindings after forgetting: %+v; want a's gone and b's name kept for a new id", bs)
	}
	// Unbinding by itself: the same, without the agent's row.
	if err := s.BindAgent(ctx, store.AgentBinding{AgentName: "c", AgentID: "id-c", Token: "t1", BoundAt: T0}); err != nil {
		t.Fatal(err)
	}
	if err := s.BindAgent(ctx, store.AgentBinding{AgentName: "b", AgentID: "id-b2", Token: "t2", BoundAt: T0}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"id-c", "id-b2"} {
		if err := s.UnbindAgent(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if bs := bindings(t, s); len(bs) != 1 || bs["b"].AgentID != "" {
		t.Errorf("bindings after unbinding: %+v", bs)
	}
	// A forgotten agent that connects again is stored again.
	Apply(t, s, store.Batch{Agents: []wire.Agent{a}})
	if st := Load(t, s); len(st.Agents) != 1 {
		t.Errorf("agents after it came back: %+v", st.Agents)
	}
}

func testRevokeEndsSessionsAndBindings(t *testing.T, h Harness) {
	s := h.open(t)
	ctx := context.Background()
	createToken(t, s, "t1", store.RoleAdmin, 1, time.Time{})
	createToken(t, s, "t2", store.RoleAdmin, 2, time.Time{})
	for _, tok := range []string{"t1", "t2"} {
		if err := s.CreateSession(ctx, store.Session{Hash: []byte(tok), Token: tok, CreatedAt: T0, ExpiresAt: T0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSignInCode(ctx, store.SignInCode{Hash: []byte("code-" + tok), Token: tok, ExpiresAt: T0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := s.BindAgent(ctx, store.AgentBinding{AgentName: "agent-" + tok, AgentID: "id-" + tok, Token: tok, BoundAt: T0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeToken(ctx, "t1", T0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, []byte("t1"), T0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session of a revoked token: %v, want ErrNotFound", err)
	}
	if _, err := s.UseSignInCode(ctx, []byte("code-t1"), T0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("code of a revoked token: %v, want ErrNotFound", err)
	}
	if bs := bindings(t, s); len(bs) != 1 || bs["agent-t2"].Token != "t2" {
		t.Errorf("bindings after revoking t1: %+v", bs)
	}
	if _, err := s.Session(ctx, []byte("t2"), T0); err != nil {
		t.Errorf("another token's session: %v", err)
	}
}
