package sshd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"charm.land/ssh"
	"github.com/gorilla/websocket"
	gossh "golang.org/x/crypto/ssh"

	"switchboard/internal/auth"
	"switchboard/internal/client"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// session is one SSH session (a dashboard or a command), from its
// handler's start to its end. Static after open, except where noted.
type session struct {
	srv    *Server
	sess   ssh.Session
	who    principal
	log    *slog.Logger
	ctx    context.Context // ends with the session, or when the server ends it
	cancel context.CancelFunc
	cookie string    // the server-side session's id, which the relay reads
	hash   []byte    // and its hash, as stored
	until  time.Time // when the server-side session expires
	what   string    // "dashboard", or the command line

	lastInput atomic.Int64 // unix nanoseconds of the user's last input
	idle      *time.Timer  // the idle timeout; nil for commands

	mu  sync.Mutex
	why string // set once, by end: why the server ended the session
}

// handle serves one SSH session: a dashboard when there is no command,
// else a subcommand of the CLI.
func (s *Server) handle(sess ssh.Session) {
	sc, err := s.open(sess)
	if err != nil {
		fmt.Fprintf(sess.Stderr(), "Switchboard: %v\n", err)
		_ = sess.Exit(1)
		return
	}
	defer sc.close()
	// Why the server ended it goes where the user looks: after a
	// dashboard, on its terminal's own stream (ssh writes standard error
	// apart, and could show it before the dashboard has left the screen);
	// after a command, on standard error.
	var code int
	say := sess.Stderr()
	if sess.RawCommand() == "" {
		code, say = sc.dashboard(), sess
	} else {
		code = sc.exec()
	}
	if why := sc.reason(); why != "" {
		fmt.Fprintf(say, "Switchboard: %s\n", why)
		code = 1
	}
	_ = sess.Exit(code)
}

// open checks the key's session limit, opens the server-side session the
// dashboard client authenticates with, and registers the session.
func (s *Server) open(sess ssh.Session) (*session, error) {
	cs := connOf(sess.Context())
	if cs == nil {
		return nil, fmt.Errorf("not authenticated")
	}
	cs.mu.Lock()
	who, authed := cs.who, cs.authed
	cs.mu.Unlock()
	if !authed {
		return nil, fmt.Errorf("not authenticated")
	}
	what := "dashboard"
	if raw := sess.RawCommand(); raw != "" {
		what = raw
	}
	audit := wire.AuditEntry{Token: who.token.Name, Role: who.token.Role, Remote: remoteIP(sess.RemoteAddr()),
		Action: "ssh_session", Subject: what, Result: "ok", Detail: "key " + who.fingerprint + ", " + string(sess.Context().ClientVersion())}
	if err := s.countSession(who.fingerprint); err != nil {
		audit.Result, audit.Detail = "denied", err.Error()
		s.audit(audit)
		return nil, err
	}
	now := time.Now()
	id, rec := auth.NewSession(who.token, s.cfg.SessionTTL, now)
	if err := s.cfg.Store.CreateSession(sess.Context(), rec); err != nil {
		s.uncountSession(who.fingerprint)
		return nil, fmt.Errorf("open a session: %w", err)
	}
	ctx, cancel := context.WithCancel(sess.Context())
	sc := &session{srv: s, sess: sess, who: who, ctx: ctx, cancel: cancel, cookie: id, hash: rec.Hash,
		until: rec.ExpiresAt, what: what,
		log: s.log.With("token", who.token.Name, "key", who.fingerprint, "remote", sess.RemoteAddr().String())}
	sc.lastInput.Store(now.UnixNano())
	s.mu.Lock()
	s.sessions[sc] = struct{}{}
	s.mu.Unlock()
	s.audit(audit)
	go sc.keepAlive()
	return sc, nil
}

// countSession counts one more session of a key, or says why it may not
// have one.
func (s *Server) countSession(fp string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.perKey[fp]
	if u == nil {
		u = &keyUse{}
		s.perKey[fp] = u
	}
	if u.sessions >= s.cfg.SessionsPerKey {
		return fmt.Errorf("the key %s has %d sessions open, the limit: close one first", fp, u.sessions)
	}
	u.sessions++
	return nil
}

func (s *Server) uncountSession(fp string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.perKey[fp]; u != nil {
		if u.sessions--; u.sessions <= 0 && u.conns <= 0 {
			delete(s.perKey, fp)
		}
	}
}

// close unregisters the session and ends its server-side session, so
// that nothing can act with its cookie any more.
func (sc *session) close() {
	sc.cancel()
	sc.mu.Lock()
	if sc.idle != nil {
		sc.idle.Stop()
	}
	sc.mu.Unlock()
	s := sc.srv
	s.mu.Lock()
	delete(s.sessions, sc)
	s.mu.Unlock()
	s.uncountSession(sc.who.fingerprint)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.cfg.Store.DeleteSession(ctx, sc.hash); err != nil {
		sc.log.Warn("ssh: end the session in the store (it expires by itself)", "err", err)
	}
}

// end ends the session from the server's side, saying why.
func (sc *session) end(why string) {
	sc.mu.Lock()
	if sc.why == "" {
		sc.why = why
	}
	sc.mu.Unlock()
	sc.cancel()
}

func (sc *session) reason() string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.why
}

// clientConfig is how this session's dashboard client reaches the relay:
// in-process, as the SSH client's address, with the session's cookie.
func (sc *session) clientConfig() client.Config {
	remote := sc.sess.RemoteAddr()
	d := &websocket.Dialer{
		NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return sc.srv.loop.dial(ctx, remote)
		},
		Jar:              sessionCookie{&http.Cookie{Name: sc.srv.cfg.SessionCookie, Value: sc.cookie}},
		HandshakeTimeout: handshakeTimeout,
	}
	return client.Config{Relay: loopbackURL, Client: "switchboard-ssh/" + sc.srv.cfg.Version, Dialer: d,
		Logger: sc.log, PageURL: sc.srv.cfg.PageURL}
}

// keepAlive asks the client for an answer every keepAliveEvery, and closes
// the connection when none comes within as long: a peer that vanished
// (a laptop closed, a network gone) would otherwise hold a session whose
// command prints nothing until TCP gives up, which takes many minutes.
func (sc *session) keepAlive() {
	conn, ok := sc.sess.Context().Value(ssh.ContextKeyConn).(gossh.Conn)
	if !ok {
		return
	}
	every := sc.srv.keepAlive
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-sc.ctx.Done():
			return
		case <-t.C:
		}
		deadline := time.AfterFunc(every, func() {
			sc.log.Info("ssh: the client stopped answering; closing its connection")
			_ = conn.Close()
		})
		_, _, err := conn.SendRequest("keepalive@openssh.com", true, nil)
		deadline.Stop()
		if err != nil {
			return
		}
	}
}

// output is what the session writes to the client through: a write that
// fails means the client has gone, and ends the session; one that the
// client takes nothing of for writeStall means it stopped reading, and
// ends the connection (closing it is what unblocks the write). Nothing
// upstream waits meanwhile without bound: the dashboard client's event
// queue fills, the relay then paces or cuts this dashboard as any slow
// one, and the relay goes on.
func (sc *session) output(w io.Writer) io.Writer {
	return &guardedWriter{w: w, sc: sc}
}

type guardedWriter struct {
	w  io.Writer
	sc *session
}

func (g *guardedWriter) Write(p []byte) (int, error) {
	stall := time.AfterFunc(g.sc.srv.stall, g.sc.cut)
	n, err := g.w.Write(p)
	stall.Stop()
	if err != nil {
		g.sc.cancel()
	}
	return n, err
}

// cut closes the session's connection: its client takes nothing.
func (sc *session) cut() {
	sc.log.Warn("ssh: the client read nothing for a while; closing its connection", "stalled", sc.srv.stall)
	if conn, ok := sc.sess.Context().Value(ssh.ContextKeyConn).(gossh.Conn); ok {
		_ = conn.Close()
	}
	sc.cancel()
}

// input is the session's input, noting when the user last typed.
func (sc *session) input() io.Reader { return activityReader{sc.sess, sc} }

type activityReader struct {
	r  io.Reader
	sc *session
}

func (a activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.sc.touch()
	}
	return n, err
}

func (sc *session) touch() { sc.lastInput.Store(time.Now().UnixNano()) }

// watchIdle ends the session once the user has sent nothing for the idle
// timeout; a timer, rearmed for what is left whenever it finds input.
func (sc *session) watchIdle() {
	limit := sc.srv.cfg.IdleTimeout
	if limit < 0 {
		return
	}
	var check func()
	check = func() {
		quiet := time.Since(time.Unix(0, sc.lastInput.Load()))
		if quiet >= limit {
			sc.end(fmt.Sprintf("closed after %s without input (--ssh-idle-timeout)", limit))
			return
		}
		sc.mu.Lock()
		sc.idle.Reset(limit - quiet)
		sc.mu.Unlock()
	}
	sc.mu.Lock()
	sc.idle = time.AfterFunc(limit, check)
	sc.mu.Unlock()
}

func remoteIP(a net.Addr) string {
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

// audit records one entry of the audit trail; a failure is logged (the
// session goes on, as the relay's own audit writes do when the store
// fails for a while).
func (s *Server) audit(e wire.AuditEntry) {
	e.At = time.Now().UTC()
	e.Subject = strings.ToValidUTF8(e.Subject, "\uFFFD")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.cfg.Store.Apply(ctx, &store.Batch{Audit: []wire.AuditEntry{e}}); err != nil {
		s.log.Warn("ssh: audit", "action", e.Action, "token", e.Token, "err", err)
	}
}
