package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/store/postgres"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/tokenadmin"
)

const (
	defaultDB = "var/switchboard.db"
	storeHelp = "Where history goes: postgres://USER@HOST:PORT/DB?… (PostgreSQL; relays may share one: serving it one at a time, or together with --cluster), or sqlite:PATH or a PATH (a SQLite file, created if missing). Default: the file --db names."
)

// relayStore is what the relay and `relay token` need of a store.
type relayStore interface {
	store.Store
	tokenadmin.Store
}

var (
	_ relayStore = (*sqlite.DB)(nil)
	_ relayStore = (*postgres.Store)(nil)
)

// storeSpec is where the store is: a PostgreSQL URL, or a SQLite file.
type storeSpec struct {
	postgres string // the URL, when it is PostgreSQL
	path     string // the file, when it is SQLite
	// asyncCommit: commits do not wait for the disk (--sync normal).
	asyncCommit bool
}

// storeFlags defines --store and --db on fs; spec reads them once fs is
// parsed.
func storeFlags(fs *flag.FlagSet, dbHelp string) (spec func() (storeSpec, error)) {
	storeURL := fs.String("store", "", storeHelp)
	dbPath := fs.String("db", defaultDB, dbHelp)
	return func() (storeSpec, error) {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if set["store"] && set["db"] {
			return storeSpec{}, errors.New("give --store or --db, not both")
		}
		if !set["store"] {
			return storeSpec{path: *dbPath}, nil
		}
		return parseStore(*storeURL)
	}
}

func parseStore(s string) (storeSpec, error) {
	switch {
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return storeSpec{postgres: s}, nil
	case strings.HasPrefix(s, "sqlite:"):
		s = strings.TrimPrefix(s, "sqlite:")
	case strings.Contains(s, "://"):
		return storeSpec{}, fmt.Errorf("--store %q: want postgres://…, sqlite:PATH or a file path", redact(s))
	}
	if s == "" {
		return storeSpec{}, errors.New("--store: the SQLite file's path is empty")
	}
	return storeSpec{path: s}, nil
}

// open opens the store, creating a SQLite file's directory if needed.
func (s storeSpec) open(ctx context.Context) (relayStore, error) {
	if s.postgres != "" {
		var opts []postgres.Option
		if s.asyncCommit {
			opts = append(opts, postgres.WithAsyncCommit())
		}
		return postgres.Open(ctx, s.postgres, opts...)
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	sync := sqlite.SyncFull
	if s.asyncCommit {
		sync = sqlite.SyncNormal
	}
	return sqlite.Open(ctx, s.path, sqlite.WithSync(sync))
}

// String names the store for logs, without a password.
func (s storeSpec) String() string {
	if s.postgres != "" {
		return redact(s.postgres)
	}
	return s.path
}

// adminTokenPath is where a first start writes the admin token.
func (s storeSpec) adminTokenPath() string { return s.besideDatabase("admin.token") }

// besideDatabase is the path of a file the relay keeps beside the SQLite
// file, or, for PostgreSQL, where it would be beside the default file.
func (s storeSpec) besideDatabase(name string) string {
	if s.postgres != "" {
		return filepath.Join(filepath.Dir(defaultDB), name)
	}
	return filepath.Join(filepath.Dir(s.path), name)
}

func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(a URL that does not parse)"
}

// serveWait is how long a starting relay waits for the store's serving
// lock while another relay holds it, unless it is a standby: the session
// of a relay just killed takes PostgreSQL a moment to end.
const serveWait = 10 * time.Second

// serveRetry is how often the lock is tried again while another holds it.
const serveRetry = 250 * time.Millisecond

// lock takes the store's serving lock, before the store is opened.
func (s storeSpec) lock(ctx context.Context, lost func(error)) (release func(), err error) {
	if s.postgres != "" {
		return postgres.LockServing(ctx, s.postgres, lost)
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	return sqlite.LockServing(s.path)
}

// lockServing takes the store's serving lock (store.ErrServed), so that
// two relays never serve one store at once, before the relay opens it (and
// migrates it): it waits up to serveWait, or, for a standby, until the
// lock is free. stop is called if the lock is lost later to another relay.
func lockServing(ctx context.Context, spec storeSpec, standby bool, log *slog.Logger, stop context.CancelCauseFunc) (release func(), err error) {
	lost := func(err error) {
		log.Error("another relay serves this store now; stopping", "err", err)
		stop(err)
	}
	deadline := time.Now().Add(serveWait)
	for waiting := false; ; waiting = true {
		release, err = spec.lock(ctx, lost)
		if !errors.Is(err, store.ErrServed) || (!standby && time.Now().After(deadline)) {
			break
		}
		if standby && !waiting {
			log.Info("standby: another relay serves this store; serving once it is gone", "store", spec.String())
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(serveRetry):
		}
	}
	if errors.Is(err, store.ErrServed) {
		return nil, fmt.Errorf("%w (waited %s): a store is served by one relay at a time; stop the other relay first, "+
			"or start this one with --standby to take over when it is gone (docs/reliability.md, failover)", err, serveWait)
	}
	if err == nil && standby {
		log.Info("standby: the store is free; serving it", "store", spec.String())
	}
	return release, err
}
