//go:build linux

package transport

import (
	"bytes"
	"crypto/tls"
	"errors"
	"github.com/prometheus/client_golang/prometheus"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// polledPair returns a socket detached into a poller and the loopback
// client connected to it (over TLS with withTLS).
func polledPair(t *testing.T, withTLS bool) (*socket, net.Conn) {
	t.Helper()
	ps, ln := onePoller(t)
	s, client := socketPair(t, ps, ln, withTLS)
	t.Cleanup(func() {
		client.Close()
		s.close()
	})
	return s, client
}

// onePoller starts a poller and a loopback listener for the test; both
// end with it, after the test's own cleanups.
func onePoller(t *testing.T) (*pollers, net.Listener) {
	t.Helper()
	ps, err := newPollers(1, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ln.Close()
		ps.stop()
	})
	return ps, ln
}

// socketPair connects a client to ln and detaches the accepted end into
// ps; with withTLS, after a TLS handshake, reading through TLS as the
// Engine's polled TLS connections do.
func socketPair(t *testing.T, ps *pollers, ln net.Listener, withTLS bool) (*socket, net.Conn) {
	t.Helper()
	if withTLS {
		return tlsSocketPair(t, ps, ln, func(c net.Conn) net.Conn { return c })
	}
	client, server := dialAccept(t, ln)
	s, err := ps.detach(server)
	if err != nil {
		t.Fatal(err)
	}
	return s, client
}

// dialAccept connects a client to ln and accepts it.
func dialAccept(t *testing.T, ln net.Listener) (client, server net.Conn) {
	t.Helper()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if server, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	return client, server
}

// tlsSocketPair is socketPair over TLS; the client's TLS runs over
// wrap(its TCP connection).
func tlsSocketPair(t *testing.T, ps *pollers, ln net.Listener, wrap func(net.Conn) net.Conn) (*socket, *tls.Conn) {
	t.Helper()
	client, server := dialAccept(t, Listener(ln))
	serverCfg, clientCfg := testTLSConfigs(t)
	tc, tclient := tls.Server(server, serverCfg), tls.Client(wrap(client), clientCfg)
	handshook := make(chan error, 1)
	go func() {
		err := tclient.Handshake()
		if err != nil {
			tclient.Close() // so that the server's handshake ends too
		}
		handshook <- err
	}()
	if err := tc.Handshake(); err != nil {
		t.Fatalf("server handshake: %v (client: %v)", err, <-handshook)
	}
	if err := <-handshook; err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	conn := server.(*tlsConn)
	conn.owned.Store(true) // as the Engine's stream does
	s, err := ps.detachTLS(tc, conn)
	if err != nil {
		t.Fatal(err)
	}
	return s, tclient
}

// TestPolledSocketWriteWaitsForRoom: a write larger than the socket takes
// waits for the peer to read, then completes byte for byte.
func TestPolledSocketWriteWaitsForRoom(t *testing.T) {
	s, client := polledPair(t, false)
	want := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16) // far beyond loopback's buffers
	s.setWriteDeadline(time.Now().Add(time.Minute))
	done := make(chan error, 1)
	go func() { done <- s.write([][]byte{want[:1<<20], want[1<<20:]}) }()

	select {
	case err := <-done:
		t.Fatalf("write of 4 MiB returned (%v) before the peer read anything", err)
	case <-time.After(200 * time.Millisecond):
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the peer read different bytes than were written")
	}
}

// TestPolledSocketWriteDeadline: a write to a peer that never reads ends
// with a deadline error, also when the deadline is moved closer while the
// write waits (as closeNow does).
func TestPolledSocketWriteDeadline(t *testing.T) {
	s, _ := polledPair(t, false)
	big := make([]byte, 8<<20)
	s.setWriteDeadline(time.Now().Add(100 * time.Millisecond))
	if err := s.write([][]byte{big}); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a peer that never reads: %v; want a deadline error", err)
	}

	s.setWriteDeadline(time.Now().Add(time.Hour))
	done := make(chan error, 1)
	go func() { done <- s.write([][]byte{big}) }()
	time.Sleep(100 * time.Millisecond)
	s.setWriteDeadline(time.Now().Add(50 * time.Millisecond))
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write after the deadline moved closer: %v; want a deadline error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("write still waiting 10 s after its deadline was moved to 50 ms")
	}
}

// Reading sockets while their poller is busy: a poller runs the handlers
// of all its sockets on one goroutine, so one slow handler (or a relay
// starved of CPU) keeps it from reading the others for a while. Their
// peers are not silent meanwhile, and must not be cut off as if they were.

// twoPolled returns two sockets on one poller and their clients.
func twoPolled(t *testing.T, withTLS bool) (a, b *socket, ca, cb net.Conn) {
	t.Helper()
	ps, ln := onePoller(t)
	a, ca = socketPair(t, ps, ln, withTLS)
	b, cb = socketPair(t, ps, ln, withTLS)
	t.Cleanup(func() {
		ca.Close()
		cb.Close()
		a.close()
		b.close()
	})
	return a, b, ca, cb
}

// plainAndTLS runs test on a plain socket and on TLS.
func plainAndTLS(t *testing.T, test func(t *testing.T, withTLS bool)) {
	t.Run("plain", func(t *testing.T) { test(t, false) })
	t.Run("tls", func(t *testing.T) { test(t, true) })
}

// blockFirst is a handler that blocks its poller on the first message
// until release is closed; the test's end closes it too.
func blockFirst(t *testing.T, release chan struct{}) func(int, []byte) readAction {
	t.Cleanup(sync.OnceFunc(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}))
	blocked := false
	return func(int, []byte) readAction {
		if !blocked {
			blocked = true
			<-release
		}
		return readOn
	}
}

// TestPolledSocketNotIdleWhileUnread: a socket whose peer sent data that
// its busy poller has not read yet is not ended as idle; the data is
// handled once the poller is free.
func TestPolledSocketNotIdleWhileUnread(t *testing.T) {
	plainAndTLS(t, testPolledSocketNotIdleWhileUnread)
}

func testPolledSocketNotIdleWhileUnread(t *testing.T, withTLS bool) {
	a, b, ca, cb := twoPolled(t, withTLS)
	release := make(chan struct{})
	a.start(1<<20, time.Minute, inCounter{}, blockFirst(t, release))
	got := make(chan []byte, 4)
	const timeout = 200 * time.Millisecond
	b.start(1<<20, timeout, inCounter{}, func(_ int, data []byte) readAction {
		got <- data
		return readOn
	})
	if _, err := ca.Write(clientFrame(true, Binary, []byte("block"), [4]byte{1})); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the poller takes a's frame and blocks in its handler
	if _, err := cb.Write(clientFrame(true, Binary, []byte("late"), [4]byte{2})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.ended:
		t.Fatalf("b ended (%v) while its data waited for the busy poller", b.endErr)
	case <-time.After(5 * timeout):
	}
	close(release)
	select {
	case data := <-got:
		if string(data) != "late" {
			t.Fatalf("b got %q, want \"late\"", data)
		}
	case <-b.ended:
		t.Fatalf("b ended (%v) instead of handling what waited", b.endErr)
	case <-time.After(10 * time.Second):
		t.Fatal("b's data was never handled")
	}
	// A peer that is really silent is still cut off.
	select {
	case <-b.ended:
		if !errors.Is(b.endErr, os.ErrDeadlineExceeded) {
			t.Fatalf("b ended with %v; want a deadline error", b.endErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a silent peer was never cut off")
	}
}

// TestPolledSocketNotIdleWhilePaused: a paused socket is not read, so its
// idle clock stops; reading goes on after a pause longer than the timeout.
func TestPolledSocketNotIdleWhilePaused(t *testing.T) {
	plainAndTLS(t, testPolledSocketNotIdleWhilePaused)
}

func testPolledSocketNotIdleWhilePaused(t *testing.T, withTLS bool) {
	s, client := polledPair(t, withTLS)
	const timeout = 100 * time.Millisecond
	first := make(chan []byte, 1)
	s.start(1<<20, timeout, inCounter{}, func(_ int, data []byte) readAction {
		first <- data
		return readPause
	})
	if _, err := client.Write(clientFrame(true, Text, []byte("hello"), [4]byte{3})); err != nil {
		t.Fatal(err)
	}
	<-first
	time.Sleep(5 * timeout) // e.g. authentication reading the store under load
	if isClosed(s.ended) {
		t.Fatalf("a paused socket ended (%v)", s.endErr)
	}
	next := make(chan []byte, 1)
	s.start(1<<20, time.Minute, inCounter{}, func(_ int, data []byte) readAction {
		next <- data
		return readOn
	})
	if _, err := client.Write(clientFrame(true, Text, []byte("more"), [4]byte{4})); err != nil {
		t.Fatal(err)
	}
	select {
	case data := <-next:
		if string(data) != "more" {
			t.Fatalf("got %q after the pause", data)
		}
	case <-s.ended:
		t.Fatalf("ended (%v) after the pause", s.endErr)
	case <-time.After(10 * time.Second):
		t.Fatal("nothing read after the pause")
	}
}

// TestReadFirstWaitsForBusyPoller: a hello that arrived on time but was
// not read because the poller was busy is still read, not refused as
// missing (the herd of reconnecting agents lost hundreds of hellos so).
func TestReadFirstWaitsForBusyPoller(t *testing.T) { plainAndTLS(t, testReadFirstWaitsForBusyPoller) }

func testReadFirstWaitsForBusyPoller(t *testing.T, withTLS bool) {
	a, b, ca, cb := twoPolled(t, withTLS)
	release := make(chan struct{})
	a.start(1<<20, time.Minute, inCounter{}, blockFirst(t, release))
	if _, err := ca.Write(clientFrame(true, Binary, []byte("block"), [4]byte{1})); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := cb.Write(clientFrame(true, Text, []byte(`{"type":"hello"}`), [4]byte{2})); err != nil {
		t.Fatal(err)
	}
	c := &Conn{sock: b, log: slog.New(slog.DiscardHandler), metrics: newMetrics(prometheus.NewRegistry()).forKind("agent"),
		kill: make(chan struct{}), readDone: make(chan struct{}), done: make(chan struct{}), space: make(chan struct{}, 1)}
	const timeout = 300 * time.Millisecond
	go func() { time.Sleep(timeout * 3 / 2); close(release) }()
	kind, data, err := c.ReadFirst(timeout)
	if err != nil || kind != Text || string(data) != `{"type":"hello"}` {
		t.Fatalf("ReadFirst: %d %q %v; want the hello that waited", kind, data, err)
	}
}

// TestClosedSocketRefusesWrites: once closed, a socket's descriptor
// number may already belong to the next accepted connection; a write
// through the old socket is refused rather than sent to that peer.
func TestClosedSocketRefusesWrites(t *testing.T) {
	s, _ := polledPair(t, false)
	old := s.fd
	s.close()
	other, otherClient := polledPair(t, false) // likely given the same number
	if _, err := s.tryWrite([][]byte{[]byte("stray")}); !errors.Is(err, errSocketClosed) {
		t.Fatalf("tryWrite on a closed socket: %v; want errSocketClosed", err)
	}
	if err := s.write([][]byte{[]byte("stray")}); !errors.Is(err, errSocketClosed) {
		t.Fatalf("write on a closed socket: %v; want errSocketClosed", err)
	}
	_ = otherClient.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _ := otherClient.Read(make([]byte, 16)); n != 0 {
		t.Fatalf("the connection now at descriptor %d (was %d) got %d stray bytes", other.fd, old, n)
	}
}
