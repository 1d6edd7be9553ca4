package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/internal/store"
)

var _ store.ServeLock = (*Store)(nil)

// serveLockSQL takes the schema's serving lock: a session-level advisory
// lock, so it lasts as long as the connection that took it, and a relay
// killed with SIGKILL leaves none behind (the server ends its session).
const serveLockSQL = `SELECT pg_try_advisory_lock(hashtext('switchboard serve ' || coalesce(current_schema(), '')))`

// serveCheckEvery is how often the connection holding the lock is
// checked, and, once lost, how often taking it back is tried.
const serveCheckEvery = 2 * time.Second

// serveLock is a held serving lock. Its conn is owned by watch.
type serveLock struct {
	s    *Store
	conn *pgx.Conn
	lost func(error)
	stop chan struct{} // closed by release
	done chan struct{} // closed when watch has ended
}

// LockServing takes the schema's serving lock on a connection of its own
// (not one of the pools', which come and go). A goroutine (watch, ended
// by release) checks that connection every serveCheckEvery; when the
// server cut it (a restart, a failover of its own) it takes the lock back
// on a new one as soon as the server answers, and calls lost if another
// relay holds it by then.
func (s *Store) LockServing(ctx context.Context, lost func(error)) (func(), error) {
	conn, err := s.lockConn(ctx)
	if err != nil {
		return nil, err
	}
	l := &serveLock{s: s, conn: conn, lost: lost, stop: make(chan struct{}), done: make(chan struct{})}
	go l.watch()
	return func() { close(l.stop); <-l.done }, nil
}

// lockConn connects and takes the lock, or fails with store.ErrServed.
func (s *Store) lockConn(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.w.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("lock %s for serving: connect: %w", s.name, err)
	}
	var got bool
	if err := conn.QueryRow(ctx, serveLockSQL).Scan(&got); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("lock %s for serving: %w", s.name, err)
	}
	if !got {
		conn.Close(context.Background())
		return nil, fmt.Errorf("%s: %w", s.name, store.ErrServed)
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
			if l.conn != nil {
				l.conn.Close(context.Background())
			}
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
	conn, err := l.s.lockConn(ctx)
	switch {
	case errors.Is(err, store.ErrServed):
		return fmt.Errorf("the serving lock was lost while the connection holding it was cut, and another relay took it: %w", err)
	case err != nil:
		return nil // the server is away: try again at the next tick
	}
	l.conn = conn
	return nil
}
