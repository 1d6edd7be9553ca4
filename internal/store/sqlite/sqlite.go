// Package sqlite is the SQLite implementation of store.Store. It owns the
// database file: its schema and the migrations that build it, the single
// connection every batch is written through, and the pool of read-only
// connections that output replay, history and startup read from, and the
// serving lock on the file that a relay takes before it opens it
// (serve_unix.go: one relay at a time).
//
// Times are stored as unix nanoseconds and read back in UTC, so they round
// trip exactly between the years 1678 and 2262; 0 stands for the zero time
// (which makes the instant of the Unix epoch itself read back as zero).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"switchboard/internal/store"
)

var _ store.Store = (*DB)(nil)

// busyTimeoutMS is how long a connection waits for a lock held by another
// process (a backup, an operator's sqlite3 shell) before failing.
const busyTimeoutMS = 5000

// DB is a Switchboard store in one SQLite file, in WAL mode so that readers
// see the last committed batch while the next one is being written.
type DB struct {
	path string

	// Static after Open.
	w      *sql.DB // exactly one connection: SQLite admits one writer anyway
	r      *sql.DB // read-only pool
	writes writeStmts
	reads  readStmts
	timing timingStmts
	sync   Sync // the writer's synchronous setting, which Index lowers for its own commits

	written atomic.Int64 // output and timing bytes applied (Written)
}

// Sync is how far a commit goes before Apply returns.
type Sync string

const (
	// SyncFull: every commit is on the disk (the WAL is synced) before
	// Apply returns, so output the relay acknowledges to an agent, which
	// then forgets it, survives a power cut. The default.
	SyncFull Sync = "full"
	// SyncNormal: the WAL is synced at checkpoints only. A crash of the
	// relay loses nothing, but a power cut may undo the last commits,
	// whose output was already acknowledged: faster commits for those who
	// take that risk (relay --sync normal).
	SyncNormal Sync = "normal"
)

// Option sets how Open opens the store.
type Option func(*options)

type options struct{ sync Sync }

// WithSync sets how far a commit goes (default SyncFull).
func WithSync(s Sync) Option { return func(o *options) { o.sync = s } }

// Open opens the store at path, creating the file if needed (mode 0600),
// and brings its schema up to date. It refuses a database, or a directory
// for it, that another user owns or can write, and a link in its place.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	o := options{sync: SyncFull}
	for _, opt := range opts {
		opt(&o)
	}
	if o.sync != SyncFull && o.sync != SyncNormal {
		return nil, fmt.Errorf("open store %s: sync %q: want full or normal", path, o.sync)
	}
	db, err := open(ctx, path, o)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w%s", path, err, diagnose(path, err))
	}
	return db, nil
}

func open(ctx context.Context, path string, o options) (_ *DB, err error) {
	if err := prepareFiles(path); err != nil {
		return nil, err
	}
	db := &DB{path: path, sync: o.sync}
	defer func() {
		if err != nil {
			_ = db.Close() // the setup error says more than a close error would
		}
	}()
	if db.w, err = openWriter(ctx, path, o.sync); err != nil {
		return nil, err
	}
	if _, err = runMigrations(ctx, db.w, migrations); err != nil {
		return nil, err
	}
	if db.writes, err = prepareWrites(ctx, db.w); err != nil {
		return nil, err
	}
	if db.r, err = openReaders(path); err != nil {
		return nil, err
	}
	if db.reads, err = prepareReads(ctx, db.r); err != nil {
		return nil, err
	}
	if db.timing, err = prepareTiming(ctx, db.w, db.r); err != nil {
		return nil, err
	}
	return db, nil
}

// openWriter opens the single write connection and puts the file in WAL
// mode, which persists in the file and lets readers run beside the writer.
func openWriter(ctx context.Context, path string, sync Sync) (*sql.DB, error) {
	w, err := sql.Open("sqlite", dsn(path, url.Values{
		// Take the write lock at BEGIN: a deferred transaction that must
		// upgrade later can fail with SQLITE_BUSY without waiting.
		"_txlock": {"immediate"},
		// In WAL mode FULL syncs the WAL at every commit, NORMAL only at
		// checkpoints (see Sync). The persister's group commit (a batch of
		// every stream's rows per commit, at most one commit per 200 ms
		// while only output waits) keeps syncs few either way. A
		// checkpoint truncates the WAL to 64 MiB so one huge batch does not
		// leave a huge file behind.
		//
		// The file is mostly output blobs. With 16 KiB pages rather than 4
		// a commit writes a quarter of the WAL frames, one syscall each:
		// BenchmarkApplyOutput went from 200 to 350 MB/s for 64 KiB chunks
		// and from 150 to 210 for 4 KiB ones; 64 KiB pages did worse for
		// small chunks. page_size only takes effect on a new file.
		"_pragma": {"synchronous(" + strings.ToUpper(string(sync)) + ")", "journal_size_limit(67108864)", "page_size(16384)"},
	}))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	// Incremental auto-vacuum lets retention give removed rows' pages back
	// to the file system (PRAGMA incremental_vacuum, retention.go) rather
	// than the file keeping its largest size forever. Like page_size it
	// takes effect on a new file only, before WAL mode writes its first
	// page (ConvertToIncremental converts an older file); it is not in the
	// _pragma list, which the driver runs sorted, this before page_size.
	if _, err := w.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("set incremental auto-vacuum: %w", err)
	}
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("set WAL mode: %w", err)
	}
	if mode != "wal" {
		_ = w.Close()
		return nil, fmt.Errorf("set WAL mode: journal mode is %q", mode)
	}
	return w, nil
}

// openReaders opens the read pool. query_only guards against a write
// slipping in beside the writer, where it would contend for the lock.
func openReaders(path string) (*sql.DB, error) {
	r, err := sql.Open("sqlite", dsn(path, url.Values{"_pragma": {"query_only(1)"}}))
	if err != nil {
		return nil, err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return r, nil
}

// dsn names path as a file: URI, so that a path containing '?' or '#' is
// not mistaken for parameters, with settings every connection shares.
func dsn(path string, params url.Values) string {
	params.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + params.Encode()
}

// Close closes both pools. Closing the writer last lets SQLite checkpoint
// the WAL into the main file and remove it.
func (db *DB) Close() error {
	var errs []error
	errs = append(errs, db.timing.close())
	if db.r != nil {
		errs = append(errs, db.reads.close(), db.r.Close())
	}
	if db.w != nil {
		errs = append(errs, db.writes.close(), db.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close store %s: %w", db.path, err)
	}
	return nil
}
