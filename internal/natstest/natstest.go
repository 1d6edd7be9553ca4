// Package natstest runs a NATS server with JetStream inside the test
// process (github.com/nats-io/nats-server/v2/server), the way
// internal/pgtest gives a test a PostgreSQL database of its own: each test
// gets a server on a loopback port of its own, with its JetStream store in
// the test's temporary directory, so tests in parallel never see each
// other's streams. Restart stops the server and starts it again on the
// same port and store, as an operator's restart would; Stop and Start do
// the same in two steps, so a test can act while the server is away.
//
// The server's goroutines are its own: Stop (and the test's end) shuts it
// down and waits for them. What it logs is kept in memory and shown when
// the test fails.
package natstest

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// readyWait bounds how long a starting server may take to accept clients
// (JetStream recovers its streams first).
const readyWait = 30 * time.Second

// Server is an in-process NATS server with JetStream. Its methods are
// safe for concurrent use; Start, Restart and Connect fail the test, so
// call them from its goroutine.
type Server struct {
	t        testing.TB
	storeDir string     // JetStream's store; static
	log      *logBuffer // what the server logs, across restarts; static

	mu   sync.Mutex // guards the fields below
	port int        // chosen at the first start, kept by restarts
	srv  *server.Server
}

// Start runs a server for t on a free loopback port, with JetStream
// storing in a new directory of t's; it is stopped when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, storeDir: filepath.Join(t.TempDir(), "jetstream"), log: &logBuffer{}, port: -1}
	s.Start()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("NATS server log:\n%s", s.Log())
		}
	})
	return s
}

// URL is the address clients connect to, nats://127.0.0.1:PORT; the same
// across restarts.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// StoreDir is the directory JetStream keeps its streams in.
func (s *Server) StoreDir() string { return s.storeDir }

// Running reports whether the server is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv != nil
}

// Start starts a stopped server on its port and store (a free port the
// first time). It does nothing while the server runs.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return
	}
	if s.port > 0 {
		s.waitPortFree()
	}
	srv, err := s.launch()
	if err != nil {
		s.t.Fatalf("NATS server on port %d: %v", s.port, err)
	}
	s.srv, s.port = srv, srv.Addr().(*net.TCPAddr).Port
}

// waitPortFree waits for the kernel to let go of the port after a stop.
// The server must not meet a port in use: it takes that for a fatal error
// and would only be noticed after readyWait.
func (s *Server) waitPortFree() {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	var err error
	for range 200 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			ln.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	s.t.Fatalf("NATS server: port %d stays in use: %v", s.port, err)
}

// launch makes and starts a server on s.port.
func (s *Server) launch() (*server.Server, error) {
	opts := &server.Options{
		ServerName: "natstest",
		Host:       "127.0.0.1",
		Port:       s.port,
		JetStream:  true,
		StoreDir:   s.storeDir,
		NoSigs:     true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	srv.SetLoggerV2(s.log, false, false, false)
	srv.Start()
	switch {
	case !srv.ReadyForConnections(readyWait):
		err = fmt.Errorf("not accepting clients after %s (see its log)", readyWait)
	case !srv.JetStreamEnabled():
		err = errors.New("started without JetStream (see its log)")
	}
	if err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, err
	}
	return srv, nil
}

// Stop shuts the server down, closing every client's connection, and
// waits until it has ended. It does nothing while the server is stopped.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// Restart stops the server and starts it again on the same port and
// store: clients see their connections close, and JetStream recovers its
// streams from disk.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

// Connect opens a client connection to the server, closed when the test
// ends. It retries its connection forever by default (nats.go's
// reconnect options override that), so it survives a Restart.
func (s *Server) Connect(opts ...nats.Option) *nats.Conn {
	s.t.Helper()
	opts = append([]nats.Option{nats.Name(s.t.Name()), nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, opts...)
	nc, err := nats.Connect(s.URL(), opts...)
	if err != nil {
		s.t.Fatalf("connect to the test NATS server %s: %v", s.URL(), err)
	}
	s.t.Cleanup(nc.Close)
	return nc
}

// Log is what the server has logged so far (its last 64 KiB).
func (s *Server) Log() string { return s.log.String() }

// logBuffer is the servers' logger: it keeps the end of what they log,
// and, unlike nats-server's own loggers, never exits the process on a
// fatal error (it only records it).
type logBuffer struct {
	mu  sync.Mutex
	buf []byte
}

// logKeep is how much of the log a logBuffer keeps.
const logKeep = 64 << 10

func (l *logBuffer) add(level, format string, v []any) {
	line := time.Now().Format("15:04:05.000 ") + level + " " + fmt.Sprintf(format, v...) + "\n"
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, line...)
	if len(l.buf) > logKeep {
		l.buf = append(l.buf[:0], l.buf[len(l.buf)-logKeep/2:]...)
	}
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

func (l *logBuffer) Noticef(format string, v ...any) { l.add("INF", format, v) }
func (l *logBuffer) Warnf(format string, v ...any)   { l.add("WRN", format, v) }
func (l *logBuffer) Fatalf(format string, v ...any)  { l.add("FTL", format, v) }
func (l *logBuffer) Errorf(format string, v ...any)  { l.add("ERR", format, v) }
func (l *logBuffer) Debugf(format string, v ...any)  { l.add("DBG", format, v) }
func (l *logBuffer) Tracef(format string, v ...any)  { l.add("TRC", format, v) }
