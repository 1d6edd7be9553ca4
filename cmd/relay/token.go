package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"switchboard/internal/auth"
	"switchboard/internal/flagenv"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

const tokenUsage = `
relay token manages access tokens in the relay's database (--db or
--store, as given to the relay). It works on the database directly, beside
running relays, which notice changes within a second: revoking a token
closes its live connections.

Usage:
  relay token create --role ROLE --name NAME [--expires DURATION]
  relay token list
  relay token revoke NAME
Roles: agent, viewer, operator, admin.`

// tokenCommand runs `relay token …`.
func tokenCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, tokenUsage)
		return errors.New("token: give create, list or revoke")
	}
	fs := flag.NewFlagSet("relay token "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeAt := storeFlags(fs, "Path of the relay's SQLite database file. Same as --store sqlite:PATH.")
	role := fs.String("role", "", "Role of the new token: agent, viewer, operator or admin.")
	name := fs.String("name", "", "Name of the new token, shown in logs and the audit trail.")
	expires := fs.Duration("expires", 0, "Lifetime of the new token (e.g. 720h); 0 means it never expires.")
	fs.Usage = flagenv.Usage(fs, tokenUsage)
	for _, name := range []string{"db", "store"} { // only these: the other flags are per call
		if env := os.Getenv(flagenv.Name(name)); env != "" {
			if err := fs.Set(name, env); err != nil {
				return err
			}
		}
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	spec, err := storeAt()
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := spec.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	switch args[0] {
	case "create":
		secret, err := createToken(ctx, st, *name, *role, *expires)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, secret)
		fmt.Fprintf(stderr, "created %s token %q; the secret above is shown only once\n", *role, *name)
		return nil
	case "list":
		return listTokens(ctx, st, stdout)
	case "revoke":
		if fs.NArg() != 1 {
			return errors.New("token revoke: give the token's name")
		}
		if err := st.RevokeToken(ctx, fs.Arg(0), time.Now()); err != nil {
			return err
		}
		auditTokenChange(ctx, st, "token_revoke", fs.Arg(0))
		fmt.Fprintf(stderr, "revoked token %q\n", fs.Arg(0))
		return nil
	}
	return fmt.Errorf("token: unknown action %q: want create, list or revoke", args[0])
}

func createToken(ctx context.Context, st relayStore, name, role string, ttl time.Duration) (string, error) {
	secret, tok, err := auth.NewToken(name, role, ttl, time.Now())
	if err != nil {
		return "", err
	}
	if err := st.CreateToken(ctx, tok); err != nil {
		return "", err
	}
	auditTokenChange(ctx, st, "token_create", name+" ("+role+")")
	return secret, nil
}

// auditTokenChange records a token change made from the command line.
func auditTokenChange(ctx context.Context, st relayStore, action, subject string) {
	who := "relay-cli"
	if u := os.Getenv("USER"); u != "" {
		who += ":" + u
	}
	_ = st.Apply(ctx, &store.Batch{Audit: []wire.AuditEntry{{At: time.Now().UTC(), Token: who, Remote: "local",
		Action: action, Subject: subject, Result: "ok"}}})
}

func listTokens(ctx context.Context, st relayStore, w io.Writer) error {
	list, err := st.Tokens(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tEXPIRES\tSTATE")
	now := time.Now()
	for _, t := range list {
		exp, state := "never", "valid"
		if !t.ExpiresAt.IsZero() {
			exp = t.ExpiresAt.Local().Format(time.DateTime)
		}
		switch {
		case !t.RevokedAt.IsZero():
			state = "revoked " + t.RevokedAt.Local().Format(time.DateTime)
		case !t.Valid(now):
			state = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, t.CreatedAt.Local().Format(time.DateTime), exp, state)
	}
	return tw.Flush()
}

// ensureAdminToken creates an admin token on a first start with no tokens
// and writes it to a mode-0600 file at path. A relay that finds the token
// created meanwhile (by another relay on the same database) leaves it be.
func ensureAdminToken(ctx context.Context, st relayStore, path string) (string, error) {
	list, err := st.Tokens(ctx)
	if err != nil || len(list) > 0 {
		return "", err
	}
	secret, err := createToken(ctx, st, "admin", store.RoleAdmin, 0)
	if errors.Is(err, store.ErrExists) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("create admin token directory: %w", err)
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write admin token file: %w", err)
	}
	return path, nil
}
