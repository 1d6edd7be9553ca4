package sshd

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"

	"switchboard/internal/addrlimit"
)

// connState is one SSH connection's authentication, from its arrival to
// its close.
type connState struct {
	addr string // addrlimit.Key of the remote address

	mu       sync.Mutex
	who      principal // once authenticated
	authed   bool
	refused  bool // a key was refused, and the client told why
	closed   bool
	channels int // session channels open
}

type connKey struct{}

// connOf is the state of the connection ctx belongs to.
func connOf(ctx ssh.Context) *connState {
	cs, _ := ctx.Value(connKey{}).(*connState)
	return cs
}

// connArrived admits a new TCP connection, or closes it (nil) when its
// address failed to log in too often or has too many connections that
// have not authenticated.
func (s *Server) connArrived(ctx ssh.Context, c net.Conn) net.Conn {
	addr := addrlimit.Key(c.RemoteAddr().String())
	if wait, blocked := s.failures.Blocked(addr, time.Now()); blocked {
		s.refusals.warn(s.log, "ssh: refused a connection: too many failed logins from its address", "remote", addr, "retry_in", wait.Round(time.Second))
		return nil
	}
	if err := s.gate.Enter(addr); err != nil {
		s.refusals.warn(s.log, "ssh: refused a connection", "remote", addr, "why", err)
		return nil
	}
	cs := &connState{addr: addr}
	ctx.SetValue(connKey{}, cs)
	return &trackedConn{Conn: c, closed: func() { s.connClosed(cs) }}
}

// connClosed releases what the connection held: its place at the gate,
// or its key's count; a connection that never authenticated spends one
// failure of its address's budget.
func (s *Server) connClosed(cs *connState) {
	cs.mu.Lock()
	authed, fp, already := cs.authed, cs.who.fingerprint, cs.closed
	cs.closed = true
	cs.mu.Unlock()
	if already {
		return
	}
	if !authed {
		s.gate.Leave(cs.addr)
		s.failures.Failed(cs.addr, time.Now())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.perKey[fp]; u != nil {
		if u.conns--; u.conns <= 0 && u.sessions <= 0 {
			delete(s.perKey, fp)
		}
	}
}

// trackedConn tells the server when the connection closes.
type trackedConn struct {
	net.Conn
	once   sync.Once
	closed func()
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.closed)
	return err
}

// sessionChannel serves a session channel, at most SessionsPerKey of them
// open on one connection: one that never asks for a shell or a command
// holds a goroutine, and is not yet a session the key's limit counts.
func (s *Server) sessionChannel(srv *ssh.Server, conn *gossh.ServerConn, ch gossh.NewChannel, ctx ssh.Context) {
	cs := connOf(ctx)
	cs.mu.Lock()
	full := cs.channels >= s.cfg.SessionsPerKey
	if !full {
		cs.channels++
	}
	cs.mu.Unlock()
	if full {
		_ = ch.Reject(gossh.ResourceShortage, fmt.Sprintf("%d sessions are open on this connection, the limit", s.cfg.SessionsPerKey))
		return
	}
	defer func() {
		cs.mu.Lock()
		cs.channels--
		cs.mu.Unlock()
	}()
	ssh.DefaultSessionHandler(srv, conn, ch, ctx)
}

// serverConfig is the SSH configuration of one connection: public keys
// only (no password, no keyboard-interactive), checked against the bound
// keys, then counted against the key's limit once the client has proved
// it holds the private key.
func (s *Server) serverConfig(ctx ssh.Context) *gossh.ServerConfig {
	cs := connOf(ctx)
	return &gossh.ServerConfig{
		MaxAuthTries: 6,
		PublicKeyCallback: func(meta gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
			return s.checkKey(ctx, cs, meta, key)
		},
		VerifiedPublicKeyCallback: func(meta gossh.ConnMetadata, key gossh.PublicKey, perms *gossh.Permissions, _ string) (*gossh.Permissions, error) {
			return perms, s.admit(cs, key)
		},
	}
}

// checkKey accepts a key bound to a valid dashboard token. The first key
// a connection has refused gets a banner saying what to do about it; the
// reason itself (which token, revoked or not) is only logged, as the
// client has not yet proved it holds the key.
func (s *Server) checkKey(ctx ssh.Context, cs *connState, meta gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
	now := time.Now()
	_, err := s.keys.lookup(key, now)
	if err != nil {
		if changed, rerr := s.keys.refresh(ctx); rerr == nil && changed {
			_, err = s.keys.lookup(key, now)
		}
	}
	if err == nil {
		return &gossh.Permissions{}, nil
	}
	s.refusals.warn(s.log, "ssh: refused a key", "remote", meta.RemoteAddr().String(), "user", meta.User(), "why", err)
	cs.mu.Lock()
	first := !cs.refused
	cs.refused = true
	cs.mu.Unlock()
	if !first {
		return nil, err
	}
	return nil, &gossh.BannerError{Err: err, Message: refusalBanner(key)}
}

// refusalBanner tells the holder of a refused key what to do.
func refusalBanner(key gossh.PublicKey) string {
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(key)))
	return fmt.Sprintf("Switchboard: the key %s may not log in here:\r\n"+
		"it is bound to no valid viewer, operator or admin token. If another key of\r\n"+
		"yours is, ssh tries it next; otherwise ask an admin of this relay to bind\r\n"+
		"this one to your token:\r\n  relay token add-key NAME '%s'\r\n",
		gossh.FingerprintSHA256(key), line)
}

// admit counts an authenticated connection against its key's limit.
func (s *Server) admit(cs *connState, key gossh.PublicKey) error {
	p, err := s.keys.lookup(key, time.Now())
	if err != nil {
		return err // revoked between the two steps
	}
	s.mu.Lock()
	u := s.perKey[p.fingerprint]
	if u == nil {
		u = &keyUse{}
		s.perKey[p.fingerprint] = u
	}
	if u.conns >= s.cfg.SessionsPerKey {
		s.mu.Unlock()
		msg := fmt.Sprintf("Switchboard: the key %s has %d connections open, the limit: close one first.\r\n", p.fingerprint, u.conns)
		return &gossh.BannerError{Err: fmt.Errorf("key %s: too many connections", p.fingerprint), Message: msg}
	}
	u.conns++
	s.mu.Unlock()
	cs.mu.Lock()
	cs.who, cs.authed = p, true
	cs.mu.Unlock()
	s.gate.Leave(cs.addr)
	return nil
}

// logLimiter keeps a flood of refusals from growing the log: at most
// perMinute lines a minute, then one line counting the rest.
type logLimiter struct {
	perMinute int

	mu         sync.Mutex
	start      time.Time
	n, dropped int
}

func (l *logLimiter) warn(log interface{ Warn(string, ...any) }, msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	dropped := 0
	if now.Sub(l.start) >= time.Minute {
		dropped, l.start, l.n, l.dropped = l.dropped, now, 0, 0
	}
	ok := l.n < l.perMinute
	if ok {
		l.n++
	} else {
		l.dropped++
	}
	l.mu.Unlock()
	if dropped > 0 {
		log.Warn("ssh: more refusals in the last minute were not logged", "count", dropped)
	}
	if ok {
		log.Warn(msg, args...)
	}
}
