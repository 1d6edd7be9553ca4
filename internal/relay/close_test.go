package relay_test

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// TestEveryCloseCodeReachesPeer brings about each close code that
// docs/protocol.md lists and checks that the peer reads it, with its
// reason, over a real relay: a peer that sees 1006 cannot tell why it was
// closed, nor whether to reconnect.
func TestEveryCloseCodeReachesPeer(t *testing.T) {
	cases := map[int]func(t *testing.T) *websocket.CloseError{
		wire.CloseNormal:             closeNormal,
		wire.CloseGoingAway:          closeGoingAway,
		wire.CloseTooBig:             closeTooBig,
		wire.CloseBadHandshake:       closeNoHello,
		wire.CloseUnsupportedVersion: closeVersion,
		wire.CloseSlowConsumer:       closeSlowConsumer,
		wire.CloseReplaced:           closeReplaced,
		wire.CloseUnauthorized:       closeUnauthorized,
		wire.CloseForbidden:          closeForbidden,
		wire.CloseTooManyConnections: closeTooMany,
	}
	for _, code := range documentedCloseCodes(t) {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			bring := cases[code]
			if bring == nil {
				t.Fatalf("docs/protocol.md lists close code %d, which this test cannot bring about", code)
			}
			if ce := bring(t); ce == nil || ce.Code != code || (code != wire.CloseNormal && ce.Text == "") {
				t.Fatalf("the peer saw close %v, want %d with a reason", ce, code)
			}
		})
	}
}

// documentedCloseCodes reads the codes of the Close codes table.
func documentedCloseCodes(t *testing.T) []int {
	t.Helper()
	f, err := os.Open("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile(`^\| (\d{4}) \|`)
	var codes []int
	in := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Close codes"
		}
		if m := row.FindStringSubmatch(line); in && m != nil {
			n, _ := strconv.Atoi(m[1])
			codes = append(codes, n)
		}
	}
	if len(codes) < 8 {
		t.Fatalf("found %d close codes in docs/protocol.md", len(codes))
	}
	return codes
}

func closeNormal(t *testing.T) *websocket.CloseError {
	p := dialRaw(t, relaytest.Start(t, relay.Config{}), wire.DashboardPath)
	helloDashboard(p)
	_ = p.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	return p.expectClose()
}

func closeGoingAway(t *testing.T) *websocket.CloseError {
	r := relaytest.Start(t, relay.Config{})
	p := dialRaw(t, r, wire.DashboardPath)
	helloDashboard(p)
	go r.Stop()
	return p.expectClose()
}

func closeTooBig(t *testing.T) *websocket.CloseError {
	p := dialRaw(t, relaytest.Start(t, relay.Config{}), wire.DashboardPath)
	helloDashboard(p)
	p.sendText(`{"type":"history","request_id":"` + strings.Repeat("x", wire.MaxMessageSize) + `"}`)
	return p.expectClose()
}

// closeNoHello: peers that send nothing are closed when the hello
// deadline passes, which here is also when a ping is due (a third of
// the read timeout): the close frame must not be lost to the ping.
func closeNoHello(t *testing.T) *websocket.CloseError {
	r := relaytest.Start(t, relay.Config{HandshakeTimeout: 300 * time.Millisecond, DashboardTimeout: 900 * time.Millisecond})
	const peers = 12
	closes := make([]*websocket.CloseError, peers)
	var wg sync.WaitGroup
	for i := range peers {
		p := dialRaw(t, r, wire.DashboardPath)
		wg.Go(func() { closes[i] = expectCloseOrNil(p) })
	}
	wg.Wait()
	for i, ce := range closes {
		if ce == nil || ce.Code != wire.CloseBadHandshake {
			t.Errorf("silent peer %d of %d: close %v, want %d", i+1, peers, ce, wire.CloseBadHandshake)
		}
	}
	return closes[0]
}

// expectCloseOrNil is expectClose from another goroutine: nil when the
// connection ended without a close frame.
func expectCloseOrNil(p *rawPeer) *websocket.CloseError {
	_ = p.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := p.ws.ReadMessage()
		if err == nil {
			continue
		}
		ce, _ := err.(*websocket.CloseError)
		return ce
	}
}

func closeVersion(t *testing.T) *websocket.CloseError {
	p := dialRaw(t, relaytest.Start(t, relay.Config{}), wire.DashboardPath)
	p.sendText(`{"type":"hello","protocol":2}`)
	return p.expectClose()
}

// closeSlowConsumer: a dashboard asks for far more than its queue holds
// and reads nothing until the relay cuts it off; then it reads, and the
// last thing it reads says why.
func closeSlowConsumer(t *testing.T) *websocket.CloseError {
	cut := make(chan struct{})
	var once sync.Once
	log := slog.New(slog.NewTextHandler(lineWatch{"disconnecting slow consumer", func() { once.Do(func() { close(cut) }) }},
		&slog.HandlerOptions{Level: slog.LevelWarn}))
	r := relaytest.Start(t, relay.Config{Logger: log, SendQueueBytes: 1 << 20, RunsPerSecond: 1000})
	agentAs(t, r, "", "box") // takes commands and never starts them
	ops := dialRaw(t, r, wire.DashboardPath)
	helloDashboard(ops)
	big := strings.Repeat("x", 60<<10)
	for i := range 10 {
		ops.send(&wire.Run{RequestID: fmt.Sprint(i), Targets: one("box"), CommandSpec: wire.CommandSpec{Shell: "echo " + big}})
		expect[*wire.RunAccepted](ops)
	}
	p := dialRaw(t, r, wire.DashboardPath)
	helloDashboard(p)
	for i := 0; ; i++ { // each answer is 600 KB; the socket and a 1 MiB queue hold a few
		select {
		case <-cut:
			return p.expectClose()
		default:
		}
		if i == 1000 {
			t.Fatal("the relay never cut the dashboard off")
		}
		p.send(&wire.HistoryQuery{RequestID: fmt.Sprint(i), Limit: 10})
		time.Sleep(time.Millisecond)
	}
}

// lineWatch is a log writer that calls seen on each line holding want.
type lineWatch struct {
	want string
	seen func()
}

func (w lineWatch) Write(b []byte) (int, error) {
	if strings.Contains(string(b), w.want) {
		w.seen()
	}
	return len(b), nil
}

func closeReplaced(t *testing.T) *websocket.CloseError {
	r := relaytest.Start(t, relay.Config{})
	first, _ := agentAs(t, r, "", "twin")
	agentAs(t, r, "", "twin")
	return first.expectClose()
}

func closeUnauthorized(t *testing.T) *websocket.CloseError {
	r, _ := relaytest.StartAuth(t, relay.Config{})
	_, ce := dashboardAs(t, r, "sbt_not-a-real-token")
	return ce
}

func closeForbidden(t *testing.T) *websocket.CloseError {
	r, _ := relaytest.StartAuth(t, relay.Config{})
	_, ce := dashboardAs(t, r, r.Token("box", store.RoleAgent, 0))
	return ce
}

func closeTooMany(t *testing.T) *websocket.CloseError {
	r, _ := relaytest.StartAuth(t, relay.Config{MaxConnsPerToken: 1})
	tok := r.Token("ops", store.RoleOperator, 0)
	dashboardAs(t, r, tok)
	_, ce := dashboardAs(t, r, tok)
	return ce
}
