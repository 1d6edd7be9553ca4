//go:build linux

package transport

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testTLSConfigs returns a server configuration with httptest's
// certificate and a client configuration that trusts it.
func testTLSConfigs(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.StartTLS()
	defer srv.Close()
	client = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	client.ServerName = "127.0.0.1" // in the certificate; net/http sets it from the URL
	return &tls.Config{Certificates: srv.TLS.Certificates}, client
}

// dribble writes what it is given a few bytes at a time, so that the
// reader gets TLS records cut anywhere.
type dribble struct{ net.Conn }

func (d dribble) Write(p []byte) (int, error) {
	for i := 0; i < len(p); {
		n := min(1+i%7, len(p)-i)
		if _, err := d.Conn.Write(p[i : i+n]); err != nil {
			return i, err
		}
		i += n
		if i%97 < 7 {
			time.Sleep(20 * time.Microsecond) // let the poller read what came so far
		}
	}
	return len(p), nil
}

// frames returns messages of the given sizes and the client frames that
// carry them.
func frames(sizes ...int) (msgs [][]byte, stream []byte) {
	for i, n := range sizes {
		b := bytes.Repeat([]byte{byte('a' + i)}, n)
		msgs = append(msgs, b)
		stream = append(stream, clientFrame(true, Binary, b, [4]byte{byte(i), 1, 2, 3})...)
	}
	return msgs, stream
}

// expect reads want from got in order.
func expect(t *testing.T, s *socket, got <-chan []byte, want [][]byte) {
	t.Helper()
	for i, w := range want {
		select {
		case g := <-got:
			if !bytes.Equal(g, w) {
				t.Fatalf("message %d: %d bytes %.8q, want %d bytes %.8q", i, len(g), g, len(w), w)
			}
		case <-s.ended:
			t.Fatalf("reading ended (%v) after %d messages", s.endErr, i)
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d never came", i)
		}
	}
}

// TestPolledTLSRecordsCutAnywhere: records that arrive a few bytes at a
// time, frames that span records and records that hold several frames
// all come out whole and in order.
func TestPolledTLSRecordsCutAnywhere(t *testing.T) {
	ps, ln := onePoller(t)
	s, client := tlsSocketPair(t, ps, ln, func(c net.Conn) net.Conn { return dribble{c} })
	defer client.Close()
	defer s.close()
	got := make(chan []byte, 64)
	s.start(1<<20, time.Minute, inCounter{}, func(_ int, data []byte) readAction {
		got <- data
		return readOn
	})
	want, stream := frames(0, 1, 125, 126, 3000, 16<<10, 16<<10+1, 40<<10)
	// Three writes: one of several frames, one that cuts a frame, the rest.
	for _, part := range [][]byte{stream[:300], stream[300:20000], stream[20000:]} {
		if _, err := client.Write(part); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, s, got, want)
}

// TestPolledTLSPauseKeepsUnread: records the poller read in one go and
// had not decrypted when the handler paused are kept (the poller's buffer
// is reused for other sockets meanwhile), and handled when reading
// starts again.
func TestPolledTLSPauseKeepsUnread(t *testing.T) {
	ps, ln := onePoller(t)
	s, client := tlsSocketPair(t, ps, ln, func(c net.Conn) net.Conn { return c })
	other, otherClient := tlsSocketPair(t, ps, ln, func(c net.Conn) net.Conn { return c })
	defer client.Close()
	defer otherClient.Close()
	defer s.close()
	defer other.close()
	want, stream := frames(10, 20, 30, 5000, 40)
	// One record each: [0], [1 2], [3 (cut) ...], [... 3 4].
	cuts := []int{0, len(clientFrame(true, Binary, want[0], [4]byte{})), 0, 0}
	cuts[2] = cuts[1] + len(clientFrame(true, Binary, want[1], [4]byte{})) + len(clientFrame(true, Binary, want[2], [4]byte{}))
	cuts[3] = cuts[2] + 1000
	for i, c := range cuts {
		end := len(stream)
		if i+1 < len(cuts) {
			end = cuts[i+1]
		}
		if _, err := client.Write(stream[c:end]); err != nil {
			t.Fatal(err)
		}
	}
	// The other socket keeps the shared buffer busy.
	noise := make(chan []byte, 64)
	other.start(1<<20, time.Minute, inCounter{}, func(_ int, data []byte) readAction {
		noise <- data
		return readOn
	})
	time.Sleep(50 * time.Millisecond) // all of it waits in s's socket: one read takes it all
	got := make(chan []byte, 64)
	handled := 0
	var pausing func(int, []byte) readAction
	pausing = func(_ int, data []byte) readAction {
		got <- data
		if handled++; handled == len(want) {
			return readOn
		}
		go func() { // as a handler's then does: the socket is paused meanwhile
			noiseMsgs, noiseStream := frames(3000, 7000)
			if _, err := otherClient.Write(noiseStream); err != nil {
				t.Error(err)
			}
			for _, w := range noiseMsgs {
				if n := <-noise; !bytes.Equal(n, w) {
					t.Errorf("the other socket got %d bytes, want %d", len(n), len(w))
				}
			}
			s.start(1<<20, time.Minute, inCounter{}, pausing)
		}()
		return readPause
	}
	s.start(1<<20, time.Minute, inCounter{}, pausing)
	expect(t, s, got, want)
}

// TestPolledTLSBadRecordEnds: bytes that are not a TLS record end the
// reading with TLS's error; nothing is handed on.
func TestPolledTLSBadRecordEnds(t *testing.T) {
	ps, ln := onePoller(t)
	s, client := tlsSocketPair(t, ps, ln, func(c net.Conn) net.Conn { return c })
	defer client.Close()
	defer s.close()
	handled := make(chan []byte, 1)
	s.start(1<<20, time.Minute, inCounter{}, func(_ int, data []byte) readAction {
		handled <- data
		return readOn
	})
	// A record header and junk, under the client's TLS.
	if _, err := client.NetConn().Write(append([]byte{23, 3, 3, 0, 40}, bytes.Repeat([]byte{0x55}, 40)...)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.ended:
		if s.endErr == nil || !strings.Contains(s.endErr.Error(), "tls:") {
			t.Fatalf("reading ended with %v; want TLS's error", s.endErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a corrupt record did not end the reading")
	}
	if len(handled) > 0 {
		t.Fatalf("handed on %q from a corrupt record", <-handled)
	}
}

// TestPolledTLSCloseNotifyEnds: the peer's close_notify ends the reading
// as the end of the stream.
func TestPolledTLSCloseNotifyEnds(t *testing.T) {
	ps, ln := onePoller(t)
	s, client := tlsSocketPair(t, ps, ln, func(c net.Conn) net.Conn { return c })
	defer s.close()
	s.start(1<<20, time.Minute, inCounter{}, func(int, []byte) readAction { return readOn })
	if err := client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.ended:
		if !errors.Is(s.endErr, io.EOF) {
			t.Fatalf("reading ended with %v; want EOF", s.endErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("close_notify did not end the reading")
	}
	client.Close()
}

// TestTLSConnCollectsWithinBound: once owned, what tls.Conn writes is
// collected, not written, up to maxCollected; past it a write fails (a
// peer that keeps asking for key updates cannot grow it without end).
func TestTLSConnCollectsWithinBound(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	c := &tlsConn{Conn: server}
	c.owned.Store(true)
	rec := make([]byte, 64<<10)
	n := 0
	for ; n < 2*maxCollected/len(rec); n++ {
		if _, err := c.Write(rec); err != nil {
			if !errors.Is(err, errTooMuchCollected) {
				t.Fatalf("write %d: %v", n, err)
			}
			break
		}
	}
	if n != maxCollected/len(rec) {
		t.Fatalf("%d records of %d bytes collected, want %d (maxCollected)", n, len(rec), maxCollected/len(rec))
	}
	if got := c.take(nil); len(got) != maxCollected {
		t.Fatalf("took %d bytes, want %d", len(got), maxCollected)
	}
	if _, err := c.Write(rec); err != nil {
		t.Fatalf("write after the stream took the records: %v", err)
	}
	c.setEncrypting(true) // a writer's batch, however large, is not refused
	for i := range 2 * maxCollected / len(rec) {
		if _, err := c.Write(rec); err != nil {
			t.Fatalf("batch record %d: %v", i, err)
		}
	}
}
