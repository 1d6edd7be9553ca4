package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"switchboard/internal/store"
)

// serveLockSQL takes the schema's serving lock: a session-level advisory
// lock (advisory locks are the database's), so it lasts as long as the
// connection that took it, and a relay killed with SIGKILL leaves none
// behind (the server ends its session). The key is the schema the store
// is in, or its search_path before the schema exists.
const serveLockSQL = `SELECT pg_try_advisory_lock(hashtext('switchboard serve ' ||
	coalesce(current_schema(), current_setting('search_path'))))`

// serveCheckEvery is how often the connection holding the lock is
// checked, and, once lost, how often taking it back is tried.
const serveCheckEvery = 2 * time.Second

// serveLock is a held serving lock. Its conn is owned by watch.
type serveLock struct {
	cfg  *pgx.ConnConfig
	name string // the database, for errors (describe)
	conn *pgx.Conn
	lost func(error)
	stop chan struct{} // closed by release
	done chan struct{} // closed when watch has ended
}

// LockServing takes the serving lock of the schema at url (as Open takes
// it) before a relay opens the store: a session advisory lock on a
// connection of its own, or store.ErrServed. A goroutine (watch, ended by
// release) checks that connection every serveCheckEvery; when the server
// cut it (a restart, a failover of its own) it takes the lock back on a
// new one as soon as the server answers, and calls lost, once, if another
// relay holds it by then: the relay must stop serving.
func LockServing(ctx context.Context, url string, lost func(error)) (release func(), err error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("lock for serving: parse PostgreSQL URL: %w", errors.Unwrap(err))
	}
	l := &serveLock{cfg: cfg.ConnConfig, name: describe(cfg), lost: lost, stop: make(chan struct{}), done: make(chan struct{})}
	if l.conn, err = l.lockConn(ctx); err != nil {
		return nil, err
	}
	go l.watch()
	return func() { close(l.stop); <-l.done }, nil
}

// lockConn connects and takes the lock, or fails with store.ErrServed.
func (l *serveLock) lockConn(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("lock %s for serving: connect: %w%s", l.name, err, hint(err))
	}
	var got bool
	if err := conn.QueryRow(ctx, serveLockSQL).Scan(&got); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("lock %s for serving: %w", l.name, err)
	}
	if !got {
		conn.Close(context.Background())
		return nil, fmt.Errorf("%s: %w", l.name, store.ErrServed)
	}
	return conn, nil
}

func (l *serveLock) watch() {
	defer close(l.done)
	tick := time.NewTicker(serveCheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			l.unlock()
			return
		case <-tick.C:
		}
		if err := l.check(); err != nil {
			l.lost(err)
			<-l.stop
			return
		}
	}
}

// unlock gives the lock back and closes its connection. The server ends
// a closed connection's session, and with it the lock, only after the
// close returns: a relay started right after this one's release could
// still find the lock held. Unlocking first makes it free on return.
func (l *serveLock) unlock() {
	if l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), serveCheckEvery)
	defer cancel()
	_, _ = l.conn.Exec(ctx, "SELECT pg_advisory_unlock_all()") // on failure, the session's end frees it
	l.conn.Close(ctx)
}

// check pings the connection holding the lock, or, when it is gone, takes
// the lock again on a new one; it fails only when another relay has it.
func (l *serveLock) check() error {
	ctx, cancel := context.WithTimeout(context.Background(), serveCheckEvery)
	defer cancel()
	if l.conn != nil {
		if err := l.conn.Ping(ctx); err == nil {
			return nil
		}
		l.conn.Close(ctx)
		l.conn = nil
	}
	conn, err := l.lockConn(ctx)
	switch {
	case errors.Is(err, store.ErrServed):
		return fmt.Errorf("the serving lock was lost while the connection holding it was cut, and another relay took it: %w", err)
	case err != nil:
		return nil // the server is away: try again at the next tick
	}
	l.conn = conn
	return nil
}
