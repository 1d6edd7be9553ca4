package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestStableIDIsCreatedOnceAndReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	first, err := loadOrCreateID(dir, "build/1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first, "a-") {
		t.Fatalf("id %q", first)
	}
	again, err := loadOrCreateID(dir, "build/1")
	if err != nil || again != first {
		t.Fatalf("second load: %q, %v; want %q", again, err, first)
	}
	if _, err := os.Stat(filepath.Join(dir, "agent-build_1.id")); err != nil {
		t.Fatal(err)
	}
	other, _ := loadOrCreateID(dir, "build-2")
	if other == first {
		t.Fatal("two agent names share an id")
	}
}

func TestStableIDRejectsAGarbledFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "agent-x.id"), []byte("not an id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateID(dir, "x"); err == nil || !strings.Contains(err.Error(), "not a valid id") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewUsesTheStateDirUnlessGivenAnID(t *testing.T) {
	dir := t.TempDir()
	a, err := New(Config{RelayURL: "ws://relay:8080", Name: "n", StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(Config{RelayURL: "ws://relay:8080", Name: "n", StateDir: dir})
	c, _ := New(Config{RelayURL: "ws://relay:8080", Name: "n", StateDir: dir, ID: "a-fixed"})
	if a.ID() != b.ID() || c.ID() != "a-fixed" {
		t.Fatalf("ids %q %q %q", a.ID(), b.ID(), c.ID())
	}
	if !slices.Equal(a.endpoints, []string{"ws://relay:8080/ws/agent"}) {
		t.Fatalf("endpoints %q", a.endpoints)
	}
}

func TestAgentEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"ws://h:1":             "ws://h:1/ws/agent",
		"http://h:1/":          "ws://h:1/ws/agent",
		"https://h/switchbd":   "wss://h/switchbd/ws/agent",
		"wss://h:443/ws/agent": "wss://h:443/ws/agent",
	} {
		if got, err := agentEndpoint(in); err != nil || got != want {
			t.Errorf("agentEndpoint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ftp://h", "ws://", "::"} {
		if _, err := agentEndpoint(bad); err == nil {
			t.Errorf("agentEndpoint(%q) accepted", bad)
		}
	}
}

func TestAgentEndpoints(t *testing.T) {
	got, err := agentEndpoints("ws://a:1", []string{"http://b:2", "ws://a:1/ws/agent", "", "ws://c:3"})
	want := []string{"ws://a:1/ws/agent", "ws://b:2/ws/agent", "ws://c:3/ws/agent"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("agentEndpoints = %q, %v; want %q (in order, once each)", got, err, want)
	}
	if got, err := agentEndpoints("", []string{"ws://b:2"}); err != nil || !slices.Equal(got, []string{"ws://b:2/ws/agent"}) {
		t.Fatalf("RelayURLs alone: %q, %v", got, err)
	}
	if _, err := agentEndpoints("", nil); err == nil || !strings.Contains(err.Error(), "not set") {
		t.Fatalf("no relay: %v", err)
	}
	if _, err := agentEndpoints("ws://a:1", []string{"ftp://b"}); err == nil || !strings.Contains(err.Error(), "ftp://b") {
		t.Fatalf("a bad second relay: %v", err)
	}
}
