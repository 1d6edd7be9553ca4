package relay_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// rebound requests path from the relay as a page on host would after its
// name was rebound to the relay's address: Host and Origin both name it.
func rebound(t *testing.T, r *relaytest.Relay, host, path string) int {
	t.Helper()
	req, err := http.NewRequest("GET", r.HTTPURL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Origin", "http://"+host)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// reboundSocket opens a dashboard WebSocket as such a page would.
func reboundSocket(r *relaytest.Relay, host string) (*websocket.Conn, *http.Response, error) {
	hdr := http.Header{"Host": {host}, "Origin": {"http://" + host}}
	return websocket.DefaultDialer.Dial(r.URL()+wire.DashboardPath, hdr)
}

// TestDNSRebinding: a relay without authentication answers only the names
// it serves. A page on another name resolved to 127.0.0.1 gets neither a
// dashboard (an admin one, with authentication off) nor the page nor any
// endpoint; localhost, IP addresses and --allowed-host names work.
func TestDNSRebinding(t *testing.T) {
	r := relaytest.Start(t, relay.Config{AllowedHosts: []string{"Relay.Example."}})
	port := r.Addr[strings.LastIndex(r.Addr, ":"):]
	evil := "rebound.attacker.example" + port
	ws, resp, err := reboundSocket(r, evil)
	if err == nil {
		ws.Close()
		t.Fatal("a rebound page opened a dashboard WebSocket")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("rebound WebSocket: %v, response %+v; want HTTP 403", err, resp)
	}
	for _, path := range []string{"/", "/healthz", "/api/whoami", "/metrics", "/app.js"} {
		if code := rebound(t, r, evil, path); code != http.StatusForbidden {
			t.Errorf("rebound GET %s: HTTP %d, want 403", path, code)
		}
	}
	for _, host := range []string{"localhost" + port, "127.0.0.1" + port, "relay.example" + port, "RELAY.example"} {
		if code := rebound(t, r, host, "/api/whoami"); code != http.StatusOK {
			t.Errorf("GET /api/whoami for host %s: HTTP %d, want 200", host, code)
		}
	}
	ws, _, err = reboundSocket(r, "localhost"+port)
	if err != nil {
		t.Fatalf("dashboard at localhost: %v", err)
	}
	ws.Close()
}

// TestHostCheckWithAuth: with authentication the check is on once a name
// is configured; without one every name is served (a rebound page has no
// session there and must present a token like anyone else).
func TestHostCheckWithAuth(t *testing.T) {
	open, _ := relaytest.StartAuth(t, relay.Config{})
	if code := rebound(t, open, "rebound.attacker.example", "/healthz"); code != http.StatusOK {
		t.Errorf("no --allowed-host: HTTP %d, want 200", code)
	}
	closed, _ := relaytest.StartAuth(t, relay.Config{AllowedHosts: []string{"relay.example"}})
	if code := rebound(t, closed, "rebound.attacker.example", "/healthz"); code != http.StatusForbidden {
		t.Errorf("with --allowed-host: HTTP %d for another name, want 403", code)
	}
	if code := rebound(t, closed, "relay.example", "/healthz"); code != http.StatusOK {
		t.Errorf("with --allowed-host: HTTP %d for that name, want 200", code)
	}
}
