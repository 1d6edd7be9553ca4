package sshd_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"switchboard/internal/agent"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/sshd"
	"switchboard/internal/store"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/tokenadmin"
)

// harness is a real relay (SQLite, authentication on) with the SSH server
// in front of it on a loopback port, real agents, and the real ssh
// client.
type harness struct {
	t     testing.TB
	relay *relaytest.Relay
	db    *sqlite.DB // a second handle on the relay's database, as relay token uses
	admin *tokenadmin.Admin
	srv   *sshd.Server
	port  string
	dir   string
	done  chan error
}

func newHarness(t testing.TB, cfg sshd.Config, tune ...func(*sshd.Server)) *harness {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Fatalf("the OpenSSH client is needed: %v", err)
	}
	r, _ := relaytest.StartAuth(t, relay.Config{})
	db, err := sqlite.Open(context.Background(), r.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, relay: r, db: db, admin: &tokenadmin.Admin{Store: db, Who: "test"}, dir: t.TempDir(), done: make(chan error, 1)}
	cfg.Store, cfg.Relay, cfg.SessionCookie = db, r.Instance().Handler(), relay.SessionCookie
	cfg.HostKeyPath = filepath.Join(h.dir, "host_key")
	cfg.PageURL, cfg.Version = "http://relay.test/", "test"
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	h.srv, err = sshd.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tune {
		f(h.srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, h.port, _ = net.SplitHostPort(ln.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.done <- h.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-h.done; err != nil {
			t.Errorf("serve: %v", err)
		}
		db.Close()
	})
	return h
}

type testLog struct{ t testing.TB }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newKey writes a new ed25519 key pair as OpenSSH files (as ssh-keygen
// would) and returns the private key's file and the public key's line.
func (h *harness) newKey(name string) (file, pub string) {
	h.t.Helper()
	pk, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		h.t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, name)
	if err != nil {
		h.t.Fatal(err)
	}
	file = filepath.Join(h.dir, name)
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		h.t.Fatal(err)
	}
	sshPub, _ := gossh.NewPublicKey(pk)
	return file, strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sshPub))) + " " + name + "@test"
}

// user creates a token with a new key and returns the key's file.
func (h *harness) user(name, role string) string {
	h.t.Helper()
	file, pub := h.newKey(name)
	if _, err := h.admin.Create(context.Background(), tokenadmin.Spec{Name: name, Role: role, SSHKeys: []string{pub}}); err != nil {
		h.t.Fatal(err)
	}
	return file
}

// agent runs a real agent (commands in real PTYs) until the test ends,
// with a session program when one is given.
func (h *harness) agent(name string, session ...string) {
	h.t.Helper()
	tok := h.relay.Token(name+"-agent", store.RoleAgent, 0)
	a, err := agent.New(agent.Config{RelayURL: h.relay.URL(), Token: tok, Name: name, StateDir: h.t.TempDir(),
		Session: session, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	h.t.Cleanup(func() { cancel(); <-done })
}

// sshArgs are the real ssh client's arguments to reach the server with
// key (no configuration file, no agent, no known_hosts, no questions),
// then args.
func (h *harness) sshArgs(key string, args ...string) []string {
	return append([]string{"-F", "/dev/null", "-p", h.port, "-i", key, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "127.0.0.1"}, args...)
}

// ssh runs the real ssh client to its end.
func (h *harness) ssh(key string, args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", h.sshArgs(key, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		h.t.Fatalf("ssh %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func tokenSpec(name, pub string) tokenadmin.Spec {
	return tokenadmin.Spec{Name: name, Role: store.RoleOperator, SSHKeys: []string{pub}}
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
