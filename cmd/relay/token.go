package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"switchboard/internal/flagenv"
	"switchboard/internal/store"
	"switchboard/internal/tokenadmin"
)

const tokenUsage = `
relay token manages access tokens in the relay's database (--db or
--store, as given to the relay). It works on the database directly, beside
running relays, which notice changes within a second: revoking a token
closes its live connections and ends its browser and SSH sessions.

Usage:
  relay token create --role ROLE --name NAME [--expires DURATION]
                     [--agent AGENT] [--scope LABEL=VALUE]... [--ssh-key KEY]...
                     [--out FILE]
  relay token list
  relay token revoke NAME
  relay token add-key NAME KEY        bind an SSH public key to a token
  relay token remove-key NAME KEY     unbind it (KEY or its SHA256:… fingerprint)
Roles: agent, viewer, operator, admin. Every command takes --db or --store.
A KEY is a public key as in a .pub file ("ssh-ed25519 AAAA… comment",
quoted), or the name of such a file; its holder logs in over SSH
(relay --ssh-addr) as the token.`

const signinUsage = `
relay signin-link prints a one-time link that signs a browser in to the
relay's page as the token in --token-file, without the token appearing in
a URL. The link works once, for 10 minutes.

Usage: relay signin-link [--db DB | --store URL] [--token-file FILE] [--url URL]`

// tokenCommand runs `relay token …`.
func tokenCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || slices.Contains([]string{"-h", "-help", "--help", "help"}, args[0]) {
		fmt.Fprintln(stderr, strings.TrimSpace(tokenUsage))
		if len(args) == 0 {
			return errors.New("token: give create, list, revoke, add-key or remove-key")
		}
		return nil
	}
	action := args[0]
	if !slices.Contains([]string{"create", "list", "revoke", "add-key", "remove-key"}, action) {
		return fmt.Errorf("token: unknown action %q: want create, list, revoke, add-key or remove-key", action)
	}
	fs := flag.NewFlagSet("relay token "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeAt := storeArgs(fs)
	role := fs.String("role", "", "Role of the new token: agent, viewer, operator or admin.")
	name := fs.String("name", "", "Name of the new token, shown in logs and the audit trail.")
	expires := fs.Duration("expires", 0, "Lifetime of the new token (e.g. 720h); 0 means it never expires.")
	var scope flagenv.Strings
	fs.Var(&scope, "scope", "Limit a new viewer or operator token to the agents with this `label=value` (repeatable: all must match), and to their commands.")
	agent := fs.String("agent", "", "Bind a new agent token to the agent of this name: only this token may register it, and the token may register nothing else. Without it, the token is bound to the first agent it registers.")
	var sshKeys flagenv.Strings
	fs.Var(&sshKeys, "ssh-key", "An SSH public key (\"ssh-ed25519 AAAA…\", quoted, or a .pub file) whose holder logs in over SSH as the new token. Repeatable.")
	out := fs.String("out", "", "Write the new token's secret to this file (created, mode 0600; never an existing file or a link) instead of standard output.")
	fs.Usage = flagenv.Usage(fs, tokenUsage)
	pos, err := flagenv.ParseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	where, err := storeAt()
	if err != nil {
		return err
	}
	ctx := context.Background()
	switch action {
	case "create":
		spec := tokenadmin.Spec{Name: *name, Role: *role, TTL: *expires, Agent: *agent, SSHKeys: sshKeys}
		if spec.Scope, err = parseLabels(scope); err != nil {
			return err
		}
		return withAdmin(ctx, where, func(a *tokenadmin.Admin) error { return createToken(ctx, a, spec, *out, stdout, stderr) })
	case "list":
		return withAdmin(ctx, where, func(a *tokenadmin.Admin) error {
			list, err := a.List(ctx)
			if err != nil {
				return err
			}
			return tokenadmin.WriteList(stdout, list, time.Now())
		})
	}
	if action == "add-key" || action == "remove-key" {
		return keyCommand(ctx, where, action, pos, stderr)
	}
	if len(pos) != 1 {
		return errors.New("token revoke: give the token's name")
	}
	return withAdmin(ctx, where, func(a *tokenadmin.Admin) error {
		if err := a.Revoke(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "revoked token %q\n", pos[0])
		return nil
	})
}

// keyCommand runs `relay token add-key|remove-key NAME KEY`.
func keyCommand(ctx context.Context, where storeSpec, action string, pos []string, stderr io.Writer) error {
	if len(pos) != 2 {
		return fmt.Errorf("token %s: give the token's name and one key (quoted)", action)
	}
	return withAdmin(ctx, where, func(a *tokenadmin.Admin) error {
		if action == "remove-key" {
			if err := a.RemoveSSHKey(ctx, pos[0], pos[1]); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "removed the ssh key from token %q; its SSH sessions end within a second\n", pos[0])
			return nil
		}
		k, err := a.AddSSHKey(ctx, pos[0], pos[1])
		if err != nil && k.Token == "" {
			return err
		}
		fmt.Fprintf(stderr, "the ssh key %s logs in as token %q\n", k.Fingerprint, pos[0])
		return err
	})
}

func createToken(ctx context.Context, a *tokenadmin.Admin, spec tokenadmin.Spec, out string, stdout, stderr io.Writer) error {
	w := stdout
	if out != "" {
		f, err := tokenadmin.CreateSecretFile(out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	secret, err := a.Create(ctx, spec)
	if secret == "" {
		if out != "" {
			_ = os.Remove(out)
		}
		return err
	}
	if _, werr := fmt.Fprintln(w, secret); werr != nil {
		return fmt.Errorf("write the secret: %w", werr)
	}
	where := "the secret above is shown only once"
	if out != "" {
		where = "its secret is in " + out
	}
	fmt.Fprintf(stderr, "created %s token %q; %s\n", spec.Role, spec.Name, where)
	return err // an audit failure, reported after the secret is safe
}

// signinCommand runs `relay signin-link`.
func signinCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("relay signin-link", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeAt := storeArgs(fs)
	tokenFile := fs.String("token-file", "", "File holding the token to sign in as. Default: the admin.token that the relay writes on its first start, beside --db.")
	url := fs.String("url", "http://127.0.0.1:8080", "The relay's address as a browser reaches it.")
	fs.Usage = flagenv.Usage(fs, signinUsage)
	if _, err := flagenv.ParseInterleaved(fs, args); err != nil {
		return err
	}
	spec, err := storeAt()
	if err != nil {
		return err
	}
	if *tokenFile == "" {
		*tokenFile = spec.adminTokenPath()
	}
	secret, err := flagenv.LoadToken("", *tokenFile)
	if err != nil {
		return fmt.Errorf("the token to sign in as: %w", err)
	}
	ctx := context.Background()
	return withAdmin(ctx, spec, func(a *tokenadmin.Admin) error {
		code, expires, err := a.SignInCode(ctx, secret)
		if code == "" {
			return err
		}
		fmt.Fprintf(stdout, "%s/#signin=%s\n", strings.TrimRight(*url, "/"), code)
		fmt.Fprintf(stderr, "the link above signs a browser in once, until %s\n", expires.Local().Format(time.TimeOnly))
		return err
	})
}

// storeArgs is --db and --store, which SWITCHBOARD_DB and
// SWITCHBOARD_STORE set too; the other flags of these commands are per
// call, not read from the environment.
func storeArgs(fs *flag.FlagSet) func() (storeSpec, error) {
	storeAt := storeFlags(fs, "Path of the relay's SQLite database file. Same as --store sqlite:PATH.")
	for _, name := range []string{"db", "store"} {
		if env := os.Getenv(flagenv.Name(name)); env != "" {
			_ = fs.Set(name, env) // both are plain strings
		}
	}
	return storeAt
}

// parseLabels reads label=value pairs.
func parseLabels(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("scope %q: want label=value", p)
		}
		m[k] = v
	}
	return m, nil
}

// withAdmin opens the store for f.
func withAdmin(ctx context.Context, spec storeSpec, f func(*tokenadmin.Admin) error) error {
	st, err := spec.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	return f(newAdmin(st))
}

func newAdmin(st tokenadmin.Store) *tokenadmin.Admin {
	who := "relay-cli"
	if u := os.Getenv("USER"); u != "" {
		who += ":" + u
	}
	return &tokenadmin.Admin{Store: st, Who: who}
}

// firstStart creates the admin token of a database with no tokens, in the
// file at path, and says so.
func firstStart(ctx context.Context, st relayStore, path string, warn func(msg string, args ...any)) error {
	created, err := newAdmin(st).EnsureAdmin(ctx, path)
	if created {
		warn("first start: created an admin token; keep it safe", "file", path, "role", store.RoleAdmin)
	}
	return err
}
