package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"switchboard/internal/proctest"
	"switchboard/internal/relaytest"
)

// sshRelay is the real relay binary serving SSH, with the tokens and keys
// made by its own relay token command.
type sshRelay struct {
	t             *testing.T
	dir, db       string
	addr, sshAddr string
	proc          *proc
}

func startSSHRelay(t *testing.T) *sshRelay {
	t.Helper()
	r := &sshRelay{t: t, dir: t.TempDir(), addr: proctest.FreeAddr(t), sshAddr: proctest.FreeAddr(t)}
	r.db = filepath.Join(r.dir, "var", "sb.db")
	r.proc = startRelay(t, r.addr, r.db, "--secure", "--ssh-addr", r.sshAddr, "--log-level", "info")
	return r
}

// token runs relay token with args on the relay's database.
func (r *sshRelay) token(args ...string) string {
	r.t.Helper()
	out, errs, err := relayCmd(r.t, r.dir, append(append([]string{"token"}, args...), "--db", r.db)...)
	if err != nil {
		r.t.Fatalf("relay token %v: %v\n%s", args, err, errs)
	}
	return out
}

// user makes an operator token whose key is a new ed25519 key pair, and
// returns the private key's file.
func (r *sshRelay) user(name string) string {
	r.t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		r.t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, name)
	if err != nil {
		r.t.Fatal(err)
	}
	file := filepath.Join(r.dir, name)
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		r.t.Fatal(err)
	}
	pub, _ := gossh.NewPublicKey(priv.Public())
	if err := os.WriteFile(file+".pub", gossh.MarshalAuthorizedKey(pub), 0o600); err != nil {
		r.t.Fatal(err)
	}
	r.token("create", "--role", "operator", "--name", name, "--ssh-key", file+".pub")
	return file
}

// agent runs the agent binary with a token bound to it; extra follows its
// own arguments (a session program after "--").
func (r *sshRelay) agent(name string, extra ...string) {
	r.t.Helper()
	tokFile := filepath.Join(r.dir, name+".token")
	r.token("create", "--role", "agent", "--name", name+"-agent", "--agent", name, "--out", tokFile)
	start(r.t, "agent", append([]string{"--relay", "ws://" + r.addr, "--token-file", tokFile, "--name", name,
		"--state-dir", r.t.TempDir()}, extra...)...)
}

// sshCommand is the shell command running the real ssh client with a
// terminal on the relay as key; its exit status goes to statusFile, and
// the window stays to be read (tmux blanks a window whose command ended).
func (r *sshRelay) sshCommand(key, term, statusFile string) string {
	_, port, _ := strings.Cut(r.sshAddr, ":")
	return fmt.Sprintf("TERM="+term+" ssh -F /dev/null -tt -p %s -i %s -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes "+
		"-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR 127.0.0.1; echo $? > %s; exec sleep 600", port, key, statusFile)
}

// exitStatus waits for the status the shell wrote.
func exitStatus(t *testing.T, file string) string {
	t.Helper()
	var st []byte
	relaytest.Eventually(t, 15*time.Second, "the ssh client's exit status", func() bool {
		st, _ = os.ReadFile(file)
		return len(st) > 0
	})
	return strings.TrimSpace(string(st))
}

// TestSSHDashboard drives the dashboard through the real ssh client in
// tmux, against the real relay binary serving SSH and real agents: the
// agent list, a command run, typing into a session program, a resize, the
// colours of the client's terminal, and q.
func TestSSHDashboard(t *testing.T) {
	r := startSSHRelay(t)
	hostKey := filepath.Join(r.dir, "var", "ssh_host_ed25519_key")
	if info, err := os.Stat(hostKey); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("host key beside the database: %v, %v", info, err)
	}
	relaytest.Eventually(t, 10*time.Second, "the host key's fingerprint in the log", func() bool {
		return regexp.MustCompile(`ssh host key created" .*fingerprint=SHA256:`).MatchString(r.proc.LogText())
	})
	alice := r.user("alice")
	r.agent("box")
	r.agent("sess", "--", "sh", "-c", "stty raw -echo; printf 'READY\\r\\n'; exec cat -v")
	status := filepath.Join(r.dir, "status")
	scr := proctest.StartTmux(t, 120, 32, r.sshCommand(alice, "xterm-256color", status))
	scr.WaitText("box", "sess", "● connected")

	t.Run("run a command", func(t *testing.T) {
		scr.Keys("/")
		scr.Text("box")
		scr.Keys("Enter", "Enter")
		scr.WaitText("run on box")
		scr.Text("printf 'hello-%s\\n' $((6*7)); printf '\\033[31mred\\033[0m\\n'")
		scr.Keys("Enter")
		scr.WaitText("hello-42", "red", "✓ exit 0")
		colored := scr.Run("capture-pane", "-p", "-e", "-t", "main")
		if !strings.Contains(colored, "\x1b[31mred") {
			t.Errorf("the pane lost the output's colour:\n%q", colored)
		}
		if !strings.Contains(colored, "\x1b[32m ● connected") {
			t.Errorf("no colours for a client whose TERM is xterm-256color:\n%q", colored)
		}
	})

	t.Run("type into a session", func(t *testing.T) {
		scr.Keys("/", "C-u") // the filter, from the pane that has the keyboard; clear it
		scr.Text("sess")
		scr.Keys("Enter")
		scr.WaitText("/sess")
		scr.Keys("o")
		scr.WaitText("READY")
		scr.Keys("i")
		scr.WaitText("INTERACTIVE")
		scr.Text("meow")
		scr.Keys("C-a")
		scr.WaitText("meow^A")
		scr.Keys("C-]")
		scr.WaitFor("the keyboard given back", func(s string) bool { return !strings.Contains(s, "INTERACTIVE") })
	})

	t.Run("resize", func(t *testing.T) {
		for _, size := range [][2]int{{90, 24}, {150, 40}} {
			scr.Resize(size[0], size[1])
			got := scr.WaitFor(fmt.Sprintf("layout at %dx%d", size[0], size[1]), func(s string) bool {
				lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
				return len(lines) == size[1] && strings.Contains(lines[len(lines)-1], "connected") && strings.Contains(s, "meow^A")
			})
			for i, l := range strings.Split(strings.TrimRight(got, "\n"), "\n") {
				if n := len([]rune(l)); n > size[0] {
					t.Fatalf("line %d is %d wide at width %d:\n%s", i, n, size[0], got)
				}
			}
		}
	})

	scr.Keys("q")
	if st := exitStatus(t, status); st != "0" {
		t.Errorf("ssh exit status %s after q, want 0:\n%s", st, scr.Screen())
	}
}

// TestSSHRevokeClosesDashboard: revoking the token with relay token revoke
// (another process, on the database) closes a live SSH dashboard within a
// second, and it says why. The client's terminal has no colours (TERM=dumb),
// and the dashboard sends none.
func TestSSHRevokeClosesDashboard(t *testing.T) {
	r := startSSHRelay(t)
	alice := r.user("alice")
	status := filepath.Join(r.dir, "status")
	scr := proctest.StartTmux(t, 100, 30, r.sshCommand(alice, "dumb", status))
	scr.WaitText("● connected")
	if colored := scr.Run("capture-pane", "-p", "-e", "-t", "main"); regexp.MustCompile(`\x1b\[[0-9;]*3[0-9]`).MatchString(colored) {
		t.Errorf("colours sent to a terminal without them:\n%q", colored)
	}
	r.token("revoke", "alice")
	revoked := time.Now()
	scr.WaitFor("the dashboard to close", func(s string) bool { return strings.Contains(s, "was revoked") })
	if took := time.Since(revoked); took > time.Second {
		t.Errorf("the dashboard closed %s after the revocation, want within a second", took)
	}
	if st := exitStatus(t, status); st != "1" {
		t.Errorf("ssh exit status %s, want 1", st)
	}
}
