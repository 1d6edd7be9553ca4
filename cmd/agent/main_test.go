package main

import (
	"io"
	"maps"
	"os"
	"slices"
	"testing"
)

// Every flag is read from SWITCHBOARD_<FLAG>, and the command line wins.
func TestParseFlagsFromTheEnvironment(t *testing.T) {
	t.Setenv("SWITCHBOARD_NAME", "from-env")
	t.Setenv("SWITCHBOARD_LABEL", "pool=ci, env=dev")
	t.Setenv("SWITCHBOARD_ALLOW", "make *,go test *")
	t.Setenv("SWITCHBOARD_NO_INPUT", "true")
	t.Setenv("SWITCHBOARD_TOKEN", "sbt_secret")
	t.Setenv("SWITCHBOARD_BUFFER", "1M")
	cfg, err := parseFlags([]string{"--name", "from-flag", "--allow", "uptime", "--", "sh"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "from-flag" || !cfg.NoInput || cfg.Token != "sbt_secret" || cfg.BufferBytes != 1<<20 {
		t.Errorf("config %+v", cfg)
	}
	if want := map[string]string{"pool": "ci", "env": "dev"}; !maps.Equal(cfg.Labels, want) {
		t.Errorf("labels %v, want %v", cfg.Labels, want)
	}
	if want := []string{"make *", "go test *", "uptime"}; !slices.Equal(cfg.Allow, want) {
		t.Errorf("allow %q, want %q", cfg.Allow, want)
	}
	if !slices.Equal(cfg.Session, []string{"sh"}) {
		t.Errorf("session %q", cfg.Session)
	}
	if _, ok := os.LookupEnv("SWITCHBOARD_TOKEN"); ok {
		t.Error("the token is still in the environment the agent's commands inherit")
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--token", "a", "--token-file", "b"},
		{"--ca", "/no/such/ca.pem"},
		{"--log-level", "loud"},
		{"--label", "novalue"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) succeeded", args)
		}
	}
}

// --relay takes several relays, repeated or separated by commas; the
// command line's replace the environment's, which replace the default.
func TestParseFlagsRelays(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil || !slices.Equal(cfg.RelayURLs, []string{"ws://127.0.0.1:8080"}) {
		t.Fatalf("default relays %q (%v)", cfg.RelayURLs, err)
	}
	t.Setenv("SWITCHBOARD_RELAY", "ws://a:1, ws://b:2")
	if cfg, err = parseFlags(nil, io.Discard); err != nil || !slices.Equal(cfg.RelayURLs, []string{"ws://a:1", "ws://b:2"}) {
		t.Fatalf("relays from the environment %q (%v)", cfg.RelayURLs, err)
	}
	cfg, err = parseFlags([]string{"--relay", "ws://c:3,ws://d:4", "--relay", "wss://e"}, io.Discard)
	if err != nil || !slices.Equal(cfg.RelayURLs, []string{"ws://c:3", "ws://d:4", "wss://e"}) {
		t.Fatalf("relays from flags %q (%v)", cfg.RelayURLs, err)
	}
}
