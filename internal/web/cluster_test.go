package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"testing"
	"time"

	"switchboard/internal/cluster"
	"switchboard/internal/natstest"
	"switchboard/internal/pgtest"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
)

// TestPageMovesToAnotherRelay: relays of a cluster (PostgreSQL and NATS)
// behind one address, as a load balancer serves them. A page signed in on
// the first runs a command on an agent of the second and follows it; the
// first relay stops; the page reconnects to the same address, reaches the
// second still signed in (its session is in the shared store), and shows
// every line of the command exactly once.
func TestPageMovesToAnotherRelay(t *testing.T) {
	const n = 300 // 15 s: the move happens while it runs
	lb := &logBuffer{t: t}
	logger := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelWarn}))
	nats, pg := natstest.Start(t), pgtest.URL(t)
	var relays []*relaytest.Relay
	for _, id := range []string{"w1", "w2"} {
		bus, err := cluster.Connect(context.Background(), cluster.Config{URL: nats.URL(), ID: id, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(bus.Close)
		cfg := relay.Config{Logger: logger, Bus: bus}
		if len(relays) == 0 {
			r, _ := relaytest.StartAuth(t, cfg, relaytest.OnPostgres(pg))
			relays = append(relays, r)
		} else {
			relays = append(relays, relaytest.JoinAuth(t, cfg, relaytest.OnPostgres(pg)))
		}
	}
	front := httptest.NewServer(balancer(relays[0].Addr, relays[1].Addr))
	t.Cleanup(front.Close)

	e := &env{t: t, relay: relays[1], log: lb, bctx: browser(t)}
	t.Cleanup(e.checkBrowserLog)
	e.startAgent("build-1", nil, relays[0].AgentToken("build-1", "build-1")) // on w2
	link := signInLink(t, relays[0], "alice")
	p := e.newPageAt("a", strings.Replace(link, "http://"+relays[0].Addr, front.URL, 1))
	p.waitFor("the banner to say connected", `document.getElementById('conn').classList.contains('conn-connected')`)
	if !strings.HasPrefix(eval[string](p, `location.href`), front.URL) {
		t.Fatalf("the page is not at the front address: %s (link %s)", eval[string](p, `location.href`), link)
	}
	p.selectAgent("build-1")
	id := p.run(fmt.Sprintf(`for i in $(seq 1 %d); do echo "line-$i"; sleep 0.05; done`, n))
	p.waitForText(id, "line-10")

	eval[bool](p, `(window.firstSocket = window.switchboard.conn.ws, true)`)
	stopped := time.Now()
	relays[0].Stop()
	t.Logf("the first relay stopped in %v", time.Since(stopped).Round(time.Millisecond))
	p.waitForWithin(30*time.Second, "the page connected again on a new socket",
		`window.switchboard.conn.ws && window.switchboard.conn.ws !== window.firstSocket && document.getElementById('conn').classList.contains('conn-connected')`)
	if state := p.commandState(id); state != "running" {
		t.Fatalf("the command is %q once the page moved, want running: the move happened after its end and tests nothing", state)
	}
	if who := eval[string](p, `document.getElementById('who-text').textContent`); who != "alice · operator" {
		t.Fatalf("after the move the page is signed in as %q, want alice · operator", who)
	}
	p.waitForWithin(30*time.Second, "the command to end", fmt.Sprintf(`window.switchboard.commands.get(%q)?.state === 'exited'`, id))
	p.waitForText(id, fmt.Sprintf("line-%d", n))
	p.waitFor("the whole stream", fmt.Sprintf(`window.switchboard.terminals.get(%q).ended`, id))
	p.wantLinesOnce(id, n)
}

// balancer forwards each request and WebSocket to the first of the
// addresses that takes a connection, keeping the Host the browser asked
// for (so the relay's same-origin check sees its own page's origin).
func balancer(addrs ...string) http.Handler {
	var d net.Dialer
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "relays"
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var err error
			for _, a := range addrs {
				var c net.Conn
				if c, err = d.DialContext(ctx, network, a); err == nil {
					return c, nil
				}
			}
			return nil, err
		}},
	}
}
