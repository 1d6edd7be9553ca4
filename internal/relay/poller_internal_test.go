//go:build linux

package relay

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"
)

// polledPair returns a socket detached into a poller and the loopback
// client connected to it.
func polledPair(t *testing.T) (*socket, net.Conn) {
	t.Helper()
	ps, err := newPollers(1, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ps.detach(server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		s.close()
		ps.stop()
	})
	return s, client
}

// TestPolledSocketWriteWaitsForRoom: a write larger than the socket takes
// waits for the peer to read, then completes byte for byte.
func TestPolledSocketWriteWaitsForRoom(t *testing.T) {
	s, client := polledPair(t)
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
	s, _ := polledPair(t)
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
