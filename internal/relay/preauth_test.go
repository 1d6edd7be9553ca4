package relay_test

// Attacks by peers that have not authenticated, sent as an attacker would
// over real connections: a huge first message, connections that never say
// hello, and token guessing. None may cost the relay more than a small,
// bounded amount.

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/client"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/tlsconf"
	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// floodFirstMessage opens a WebSocket and, as its first message, sends
// one binary frame whose header claims 400 MiB, streaming its payload
// until the relay closes the connection. It returns how many payload
// bytes the relay took and how it closed.
func floodFirstMessage(t *testing.T, d *websocket.Dialer, url string) (int64, *websocket.CloseError) {
	t.Helper()
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer ws.Close()
	const claimed = 400 << 20
	// A client frame: FIN and binary, then a masked 64-bit length and a
	// zero masking key, so the payload goes out as it is.
	hdr := []byte{0x82, 0x80 | 127}
	hdr = binary.BigEndian.AppendUint64(hdr, claimed)
	hdr = append(hdr, 0, 0, 0, 0)
	var sent atomic.Int64
	go func() {
		nc := ws.NetConn()
		if _, err := nc.Write(hdr); err != nil {
			return
		}
		chunk := make([]byte, 64<<10)
		for sent.Load() < claimed {
			_ = nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
			n, err := nc.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return sent.Load(), ce
		}
		if err != nil {
			t.Fatalf("%s: the connection ended without a close frame after %d bytes: %v", url, sent.Load(), err)
		}
	}
}

// TestHugeFirstMessageRefused: on every path (a dashboard, an agent read
// by a poller, an agent with a reader goroutine, a dashboard over TLS) the
// first message is read under the 1 MiB limit: the relay closes with 1009
// having taken little more than the limit, not the 400 MiB the frame
// claims (it took 895 MiB of memory for one such frame).
func TestHugeFirstMessageRefused(t *testing.T) {
	const most = 48 << 20 // the limit, what is dropped after it, and the sockets' buffers
	check := func(name string, d *websocket.Dialer, url string) {
		t.Run(name, func(t *testing.T) {
			sent, ce := floodFirstMessage(t, d, url)
			if ce.Code != wire.CloseTooBig {
				t.Errorf("close %d %q, want %d", ce.Code, ce.Text, wire.CloseTooBig)
			}
			if sent > most {
				t.Errorf("the relay read %d MiB of the first message before refusing it", sent>>20)
			}
		})
	}
	polled := relaytest.Start(t, relay.Config{})
	check("dashboard", websocket.DefaultDialer, polled.URL()+wire.DashboardPath)
	check("agent polled", websocket.DefaultDialer, polled.URL()+wire.AgentPath)
	goroutines := relaytest.Start(t, relay.Config{NoReadPoller: true})
	check("agent with a reader goroutine", websocket.DefaultDialer, goroutines.URL()+wire.AgentPath)
	url, caFile := startTLSRelay(t)
	trust, err := tlsconf.Client(caFile)
	if err != nil {
		t.Fatal(err)
	}
	check("dashboard over tls", &websocket.Dialer{TLSClientConfig: trust}, url+wire.DashboardPath)
	check("agent over tls", &websocket.Dialer{TLSClientConfig: trust}, url+wire.AgentPath)
}

// startTLSRelay runs a relay without authentication behind TLS, as
// cmd/relay serves it (through transport.Listener), and
// returns its wss URL and the CA file that signed its certificate.
func startTLSRelay(t *testing.T) (url, caFile string) {
	t.Helper()
	dir := t.TempDir()
	caFile, cert := relaytest.ServerCert(t, dir)
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rl, err := relay.New(context.Background(), relay.Config{NoAuth: true, Logger: slog.New(slog.DiscardHandler)}, st)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(rl.Handler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Listener = transport.Listener(srv.Listener) // as cmd/relay serves TLS: agents read by the pollers
	srv.StartTLS()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = rl.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	return "wss://" + srv.Listener.Addr().String(), caFile
}

// dialerFrom dials from a loopback address of its own (Linux routes all
// of 127.0.0.0/8 to lo), to stand for another machine.
func dialerFrom(ip string) *websocket.Dialer {
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 5 * time.Second}
}

// TestUnauthenticatedConnectionsCapped: WebSockets that never say hello,
// and TCP connections that never send a request, are bounded per address
// and in total; past the bounds a WebSocket is refused with HTTP 429
// before the upgrade and a bare connection is closed at once. A hello
// frees a place.
func TestUnauthenticatedConnectionsCapped(t *testing.T) {
	r := relaytest.Start(t, relay.Config{MaxUnauthenticatedPerAddr: 3, MaxUnauthenticated: 5, HandshakeTimeout: time.Minute})
	url := r.URL() + wire.DashboardPath
	silent := func(ip string) *websocket.Conn {
		t.Helper()
		ws, _, err := dialerFrom(ip).Dial(url, nil)
		if err != nil {
			t.Fatalf("dial from %s: %v", ip, err)
		}
		t.Cleanup(func() { ws.Close() })
		return ws
	}
	refused := func(ip, why string) {
		t.Helper()
		ws, resp, err := dialerFrom(ip).Dial(url, nil)
		if err == nil {
			ws.Close()
			t.Fatalf("from %s: a connection past the limit (%s) was accepted", ip, why)
		}
		if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("from %s (%s): %v, response %+v; want HTTP 429", ip, why, err, resp)
		}
	}
	first := silent("127.0.0.11")
	silent("127.0.0.11")
	silent("127.0.0.11")
	refused("127.0.0.11", "3 per address")
	silent("127.0.0.12")
	silent("127.0.0.12")
	refused("127.0.0.13", "5 in all")

	// A connection that authenticates leaves the count.
	if err := first.WriteMessage(websocket.TextMessage, wire.MustEncode(&wire.Hello{Protocol: wire.ProtocolVersion})); err != nil {
		t.Fatal(err)
	}
	relaytest.Eventually(t, 10*time.Second, "a place freed by the hello", func() bool {
		ws, _, err := dialerFrom("127.0.0.13").Dial(url, nil)
		if err == nil {
			t.Cleanup(func() { ws.Close() })
		}
		return err == nil
	})

	// Bare TCP connections count too (four times as many may wait as
	// WebSockets: they cost less), and one past the limit is closed
	// without an answer.
	r2 := relaytest.Start(t, relay.Config{MaxUnauthenticatedPerAddr: 1})
	bare := func() net.Conn {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.14")}}
		c, err := nd.Dial("tcp", r2.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	for range 4 {
		bare()
	}
	extra := bare()
	_ = extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		t.Fatalf("a fifth bare connection from one address stayed open: read %d, %v", n, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestFailedAuthenticationsThrottled: an address that keeps presenting
// bad tokens is refused before its tokens are looked at (HTTP 429 with
// Retry-After), at the WebSocket endpoints and at /api/login alike, while
// other addresses are not. The audit trail gets one row per kind of
// refusal a minute and a summary of the rest, so a flood of guesses from
// many addresses cannot grow the database.
func TestFailedAuthenticationsThrottled(t *testing.T) {
	r, admin := relaytest.StartAuth(t, relay.Config{AuthFailuresPerMinute: 3})
	guess := func(ip string) (*websocket.CloseError, *http.Response) {
		t.Helper()
		ws, resp, err := dialerFrom(ip).Dial(r.URL()+wire.DashboardPath, nil)
		if err != nil {
			return nil, resp
		}
		defer ws.Close()
		p := &rawPeer{t: t, ws: ws}
		p.send(&wire.Hello{Protocol: wire.ProtocolVersion, Token: "sbt_guess"})
		return p.expectClose(), nil
	}
	for i := range 3 {
		if ce, resp := guess("127.0.0.21"); ce == nil || ce.Code != wire.CloseUnauthorized {
			t.Fatalf("guess %d: close %v, response %+v; want 4401", i, ce, resp)
		}
	}
	_, resp := guess("127.0.0.21")
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("fourth guess: response %+v; want HTTP 429 with Retry-After", resp)
	}
	login := func(ip, token string) int {
		t.Helper()
		tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("POST", r.HTTPURL()+"/api/login", strings.NewReader(fmt.Sprintf(`{"token":%q}`, token)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", r.HTTPURL())
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := login("127.0.0.21", admin); code != http.StatusTooManyRequests {
		t.Errorf("login from the throttled address: HTTP %d, want 429", code)
	}
	if ce, _ := guess("127.0.0.22"); ce == nil || ce.Code != wire.CloseUnauthorized {
		t.Errorf("another address: close %v, want 4401 (not throttled)", ce)
	}

	// A flood from many addresses, each under its own budget.
	for i := range 130 {
		guess(fmt.Sprintf("127.0.1.%d", i+1))
	}
	r.Stop() // writes the minute's summary
	r.Start()
	cl := dialAdmin(t, r, admin)
	entries, err := cl.Audit(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	failures, summaries := 0, 0
	for _, e := range entries {
		if e.Action == "auth_failure" {
			failures++
			if strings.Contains(e.Detail, "more") {
				summaries++
			}
		}
	}
	// 100 kinds one by one (the first of .21, .22 and 98 of the flood),
	// .21's two more in a summary, and the flood's other 32 in one.
	if failures != 102 || summaries != 2 {
		t.Errorf("audit rows for 135 failed authentications: %d, of them %d summaries; want 102 and 2", failures, summaries)
		for _, e := range entries {
			if e.Action == "auth_failure" && strings.Contains(e.Detail, "more") {
				t.Log(e.Remote, e.Detail)
			}
		}
	}
}

// dialAdmin connects a dashboard client with a token.
func dialAdmin(t *testing.T, r *relaytest.Relay, token string) *client.Client {
	t.Helper()
	cl, err := client.Dial(context.Background(), client.Config{Relay: r.URL(), Token: token, Client: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}
