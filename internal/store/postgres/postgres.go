// Package postgres is the PostgreSQL implementation of store.Store and
// store.Auth, for relays that share one database (relay --store
// postgres://…). It owns its schema and the numbered migrations that build
// it, run in one transaction when a store opens, and two pools of
// connections (pgxpool): one that batches and token changes are written
// through, so that a commit never waits behind reads, and one for reads
// (replay, history, startup, tokens). A connection the server dropped is
// replaced on the next use, so a restarted server costs the relay one
// failed batch, which the relay retries.
//
// It also owns the schema's serving lock (serve.go: one relay at a
// time), which a relay takes before it opens the store, on a connection
// of its own outside the pools; its one goroutine (serveLock.watch,
// started by LockServing, ended by the release it returns) checks that
// connection and takes the lock back after the server cut it.
//
// Rows are laid out as in SQLite (package sqlrow): times in unix
// nanoseconds, lists and maps as JSON. Text PostgreSQL cannot hold (a NUL
// byte, invalid UTF-8) is stored with U+FFFD in its place rather than fail
// the batch, which would hold back every batch after it.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"switchboard/internal/store"
)

var (
	_ store.Store = (*Store)(nil)
	_ store.Auth  = (*Store)(nil)
)

const (
	// writeConns is the size of the write pool: Apply runs one batch at a
	// time, and token changes are rare.
	writeConns = 2
	// defaultApplyTimeout bounds one Apply. A batch of many MiB commits in well
	// under a second on a healthy server.
	defaultApplyTimeout = time.Minute
)

// Store is a Switchboard store in a PostgreSQL database (in the schema the
// connection's search_path selects).
type Store struct {
	// Static after Open; the pools are safe for concurrent use.
	name string        // the server and database, for errors; never the password
	w    *pgxpool.Pool // batches and token changes
	r    *pgxpool.Pool // reads; pool_max_conns in the URL sizes it

	applyTimeout time.Duration // defaultApplyTimeout, shorter in tests

	written atomic.Int64 // output and timing bytes applied (Written)
}

// Option sets how Open opens the store.
type Option func(*pgxpool.Config)

// WithAsyncCommit makes batches commit without waiting for the server's
// disk (synchronous_commit off, relay --sync normal): a crash of the
// server may undo the last commits, whose output the relay acknowledged.
// By default a commit waits for the disk, as PostgreSQL's does; a
// synchronous_commit in the URL wins over either.
func WithAsyncCommit() Option {
	return func(cfg *pgxpool.Config) {
		if _, set := cfg.ConnConfig.RuntimeParams["synchronous_commit"]; !set {
			cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
		}
	}
}

// Open connects to the database at url (postgres://user@host:port/db?…, or
// any form pgx accepts) and brings its schema up to date.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open store: parse PostgreSQL URL: %w", errors.Unwrap(err))
	}
	for _, opt := range opts {
		opt(cfg)
	}
	s := &Store{name: describe(cfg), applyTimeout: defaultApplyTimeout}
	if err := s.open(ctx, cfg); err != nil {
		return nil, fmt.Errorf("open store %s: %w%s", s.name, err, hint(err))
	}
	return s, nil
}

func (s *Store) open(ctx context.Context, cfg *pgxpool.Config) (err error) {
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	wcfg := cfg.Copy()
	wcfg.MaxConns, wcfg.MinConns = writeConns, min(wcfg.MinConns, writeConns)
	if s.w, err = pgxpool.NewWithConfig(ctx, wcfg); err != nil {
		return err
	}
	if err := s.w.Ping(ctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if _, err := runMigrations(ctx, s.w, migrations); err != nil {
		return err
	}
	s.r, err = pgxpool.NewWithConfig(ctx, cfg)
	return err
}

// describe names the database as errors and logs show it: user, host,
// port, database and, when set, the search_path that selects the schema.
func describe(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	name := fmt.Sprintf("postgres://%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
	if sp := c.RuntimeParams["search_path"]; sp != "" {
		name += "?search_path=" + sp
	}
	return name
}

// Close closes every connection. It may be called more than once.
func (s *Store) Close() error {
	for _, p := range []*pgxpool.Pool{s.r, s.w} {
		if p != nil {
			p.Close()
		}
	}
	return nil
}
