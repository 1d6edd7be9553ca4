package transport

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"switchboard/internal/wire"
)

// connPair is a relay conn and the client at the other end of it.
type connPair struct {
	c      *Conn
	client *websocket.Conn
}

// newConnPair serves one conn on loopback over the given stream,
// reading and discarding what the client sends, with the given queue
// budget.
func newConnPair(t testing.TB, mode streamMode, maxPending int64) connPair {
	t.Helper()
	if mode.name == "plain" { // built by hand, as the first tests of this package were
		return newPlainPair(t, maxPending)
	}
	e := NewEngine(Options{Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), NoReadPoller: !mode.polled})
	accepted := make(chan *Conn, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := e.Upgrade(w, r, Accept{Kind: "dashboard", ReadTimeout: 3 * time.Minute, MaxPending: maxPending, Polled: mode.polled})
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		c.Start()
		accepted <- c
		_ = c.ReadLoop(func(int, []byte) func() { return nil })
		<-c.done
	}))
	dialer := *websocket.DefaultDialer
	if mode.tls {
		if mode.listener {
			srv.Listener = Listener(srv.Listener)
		}
		srv.StartTLS()
		dialer.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	} else {
		srv.Start()
	}
	client, _, err := dialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil) // wss for https
	if err != nil {
		t.Fatal(err)
	}
	c := <-accepted
	if c.Polled() != mode.polled {
		t.Fatalf("%s: polled %v", mode.name, c.Polled())
	}
	t.Cleanup(func() {
		client.Close()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Error("the connection did not end after its client closed")
		}
		srv.Close()
		e.Stop()
	})
	return connPair{c: c, client: client}
}

func newPlainPair(t testing.TB, maxPending int64) connPair {
	t.Helper()
	m := newMetrics(prometheus.NewRegistry())
	accepted := make(chan *Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := newConn(ws, nil, slog.New(slog.DiscardHandler), time.Minute, time.Minute, maxPending, m.forKind("dashboard"))
		c.Start()
		accepted <- c
		_ = c.ReadLoop(func(int, []byte) func() { return nil })
		<-c.done
	}))
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		srv.Close()
	})
	return connPair{c: <-accepted, client: client}
}

// streamMode is one way a Conn's bytes travel.
type streamMode struct {
	name     string
	tls      bool
	listener bool // TLS accepted through Listener: the Engine owns its records
	polled   bool
}

// streamModes: every test of a Conn runs over each of these.
var streamModes = []streamMode{
	{name: "plain"},
	{name: "plain-polled", polled: true},
	{name: "tls", tls: true, listener: true},
	{name: "tls-polled", tls: true, listener: true, polled: true},
	{name: "tls-bare", tls: true}, // a tls.Conn over a bare TCP connection
}

// eachStream runs test over every stream mode.
func eachStream(t *testing.T, test func(t *testing.T, mode streamMode)) {
	for _, m := range streamModes {
		t.Run(m.name, func(t *testing.T) { test(t, m) })
	}
}

func TestConnWritesInOrderAcrossFrameSizes(t *testing.T) {
	eachStream(t, testConnWritesInOrderAcrossFrameSizes)
}

func testConnWritesInOrderAcrossFrameSizes(t *testing.T, mode streamMode) {
	p := newConnPair(t, mode, 1<<30)
	var want [][]byte
	for i, n := range []int{0, 1, 125, 126, 4 << 10, 4<<10 + 1, 65535, 65536, 300 << 10, maxCollected + 1} {
		b := bytes.Repeat([]byte{byte('a' + i)}, n)
		want = append(want, b)
		kind := websocket.BinaryMessage
		if i%2 == 1 {
			kind = websocket.TextMessage
		}
		if !p.c.Send(Message{Kind: kind, Data: b}) {
			t.Fatalf("enqueue %d refused", i)
		}
	}
	_ = p.client.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i, w := range want {
		kind, got, err := p.client.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if wantKind := websocket.BinaryMessage + i%2*(websocket.TextMessage-websocket.BinaryMessage); kind != wantKind {
			t.Errorf("message %d: kind %d, want %d", i, kind, wantKind)
		}
		if !bytes.Equal(got, w) {
			t.Errorf("message %d: %d bytes, want %d", i, len(got), len(w))
		}
	}
}

// SendNow on an idle connection writes from the caller and leaves the
// connection idle; on one whose socket is full it writes what the socket
// takes and a writer goroutine finishes the frame. Either way the peer
// gets every message whole and in order, mixed with enqueued ones.
func TestConnEnqueueNowWritesInline(t *testing.T) { eachStream(t, testConnEnqueueNowWritesInline) }

func testConnEnqueueNowWritesInline(t *testing.T, mode streamMode) {
	p := newConnPair(t, mode, 1<<30)
	// A tls.Conn over a TCP connection that is not ours writes its
	// records itself: SendNow queues, as Send does.
	if want := !mode.tls || mode.listener; p.c.inline != want {
		t.Fatalf("inline writes: %v, want %v", p.c.inline, want)
	}
	waitIdle(t, p.c)
	if !p.c.SendNow(Message{Kind: websocket.BinaryMessage, Data: []byte("key")}) {
		t.Fatal("SendNow refused")
	}
	if p.c.inline && !idle(p.c) {
		t.Fatal("a one-message inline write left a writer running")
	}
	_ = p.client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, got, err := p.client.ReadMessage(); err != nil || string(got) != "key" {
		t.Fatalf("got %q, %v; want \"key\"", got, err)
	}

	// A message larger than the socket takes while the client does not
	// read: the inline write is cut short and the rest must follow, in
	// order, before what is sent after it.
	big := bytes.Repeat([]byte("0123456789"), 1<<20)
	if !p.c.SendNow(Message{Kind: websocket.BinaryMessage, Data: big}) {
		t.Fatal("SendNow refused")
	}
	want := [][]byte{big}
	for i := range 64 {
		b := bytes.Repeat([]byte{byte('a' + i%26)}, 100<<10+i)
		want = append(want, b)
		m := Message{Kind: websocket.BinaryMessage, Data: b}
		ok := false
		if i%3 == 0 {
			ok = p.c.Send(m)
		} else {
			ok = p.c.SendNow(m)
		}
		if !ok {
			t.Fatalf("message %d refused", i)
		}
	}
	for i, w := range want {
		_, got, err := p.client.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("message %d: %d bytes, want %d bytes of %q", i, len(got), len(w), w[:1])
		}
	}
}

// idle reports whether no writer runs.
func idle(c *Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == writerIdle
}

// waitIdle waits for the connection's first writer to finish.
func waitIdle(t *testing.T, c *Conn) {
	t.Helper()
	eventually(t, "the connection's first writer finished", func() bool { return idle(c) })
}

// eventually polls cond until it holds, failing the test after 10 s.
// (relaytest.Eventually imports this package.)
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
	}
}

// TestConnEnqueueSoonCoalesces: output queued with SendSoon within the
// window goes out in one write, in order; a window's worth of bytes goes
// at once.
func TestConnEnqueueSoonCoalesces(t *testing.T) { eachStream(t, testConnEnqueueSoonCoalesces) }

func testConnEnqueueSoonCoalesces(t *testing.T, mode streamMode) {
	p := newConnPair(t, mode, 1<<30)
	waitIdle(t, p.c)
	p.c.coalesce = 300 * time.Millisecond
	writes := func() float64 { return metricValue(t, p.c.metrics.writes) }
	before := writes()
	for i := range 5 {
		if !p.c.SendSoon(Message{Kind: websocket.BinaryMessage, Data: []byte{byte('a' + i)}}) {
			t.Fatal("SendSoon refused")
		}
		time.Sleep(time.Millisecond) // each would have had its own write
	}
	_ = p.client.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range 5 {
		if _, got, err := p.client.ReadMessage(); err != nil || string(got) != string(rune('a'+i)) {
			t.Fatalf("message %d: %q, %v", i, got, err)
		}
	}
	// The writer counts its write once the system call returns, which can
	// be after the client has read it.
	eventually(t, "the write counted", func() bool { return writes() > before })
	if n := writes() - before; n != 1 {
		t.Fatalf("5 messages in the window went out in %.0f writes, want 1", n)
	}

	p.c.coalesce = time.Hour
	big := bytes.Repeat([]byte("x"), CoalesceBytes)
	if !p.c.SendSoon(Message{Kind: websocket.BinaryMessage, Data: big}) {
		t.Fatal("SendSoon refused")
	}
	if _, got, err := p.client.ReadMessage(); err != nil || len(got) != len(big) {
		t.Fatalf("a window's worth of output did not go at once: %d bytes, %v", len(got), err)
	}
}

// metricValue reads a counter or gauge.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var v dto.Metric
	if err := m.Write(&v); err != nil {
		t.Fatal(err)
	}
	return v.GetCounter().GetValue() + v.GetGauge().GetValue()
}

// TestConnSendQueueGauges: what waits for a peer that does not read shows
// in the send-queue gauges, and leaves them when written.
func TestConnSendQueueGauges(t *testing.T) { eachStream(t, testConnSendQueueGauges) }

func testConnSendQueueGauges(t *testing.T, mode streamMode) {
	p := newConnPair(t, mode, 1<<30) // the client reads nothing for now
	waitIdle(t, p.c)
	msg := bytes.Repeat([]byte("q"), 100<<10)
	const n = 300 // 30 MB: more than the sockets hold
	for range n {
		if !p.c.Send(Message{Kind: websocket.BinaryMessage, Data: msg}) {
			t.Fatal("enqueue refused")
		}
	}
	qm, qb := p.c.metrics.queuedMessages, p.c.metrics.queuedBytes
	// Once the writer has filled the sockets and blocks, the gauges hold
	// still: read them until two readings agree.
	var m, b float64
	eventually(t, "the send-queue gauges settled", func() bool {
		m, b = metricValue(t, qm), metricValue(t, qb)
		return m == metricValue(t, qm) && b == metricValue(t, qb) && b == m*float64(len(msg))
	})
	if m < 1 || m > n {
		t.Fatalf("queued %v messages, %v bytes while the peer does not read; want 1-%d messages of %d bytes", m, b, n, len(msg))
	}
	_ = p.client.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range n {
		if _, got, err := p.client.ReadMessage(); err != nil || len(got) != len(msg) {
			t.Fatalf("message %d: %d bytes, %v", i, len(got), err)
		}
	}
	if m, b := metricValue(t, qm), metricValue(t, qb); m != 0 || b != 0 {
		t.Fatalf("all read, yet %v messages and %v bytes queued", m, b)
	}
}

func TestConnCutsOffSlowConsumer(t *testing.T) { eachStream(t, testConnCutsOffSlowConsumer) }

func testConnCutsOffSlowConsumer(t *testing.T, mode streamMode) {
	p := newConnPair(t, mode, 1<<20) // the client reads nothing for now
	chunk := make([]byte, 64<<10)
	began := time.Now()
	refused := false
	for range 1000 { // 64 MiB: far beyond the budget and the socket buffers
		if !p.c.Send(Message{Kind: websocket.BinaryMessage, Data: chunk}) {
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("a peer that reads nothing was never cut off")
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("enqueue blocked for %s", d)
	}
	select {
	case <-p.c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection did not close after the cut-off")
	}
	if why := p.c.Why(); why != "slow_consumer" {
		t.Errorf("closed for %q", why)
	}
}

func TestConnCloseGracefullyFlushesFirst(t *testing.T) {
	eachStream(t, testConnCloseGracefullyFlushesFirst)
}

func testConnCloseGracefullyFlushesFirst(t *testing.T, mode streamMode) {
	p := newConnPair(t, mode, 1<<30)
	for i := range 100 {
		p.c.Send(Message{Kind: websocket.TextMessage, Data: []byte{byte(i)}})
	}
	p.c.Close(wire.CloseTooBig, strings.Repeat("é", 100)) // 200 bytes: cut to fit a control frame
	if p.c.Send(Message{Kind: websocket.TextMessage, Data: []byte("late")}) {
		t.Error("a message queued after the close was accepted")
	}
	_ = p.client.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range 100 {
		_, got, err := p.client.ReadMessage()
		if err != nil || len(got) != 1 || got[0] != byte(i) {
			t.Fatalf("message %d: %q %v", i, got, err)
		}
	}
	_, _, err := p.client.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != wire.CloseTooBig {
		t.Fatalf("got %v, want close %d", err, wire.CloseTooBig)
	}
	if len(ce.Text) != 122 || !strings.HasPrefix(ce.Text, "éé") { // 125 - 2 code bytes, whole runes only
		t.Errorf("close reason of %d bytes: %q", len(ce.Text), ce.Text)
	}
}

func TestConnAnswersPingAndEchoesClose(t *testing.T) {
	eachStream(t, testConnAnswersPingAndEchoesClose)
}

func testConnAnswersPingAndEchoesClose(t *testing.T, mode streamMode) {
	p := newConnPair(t, mode, 1<<30)
	pong := make(chan string, 1)
	p.client.SetPongHandler(func(s string) error { pong <- s; return nil })
	go func() {
		for {
			if _, _, err := p.client.ReadMessage(); err != nil {
				return
			}
		}
	}()
	if err := p.client.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-pong:
		if s != "hi" {
			t.Errorf("pong %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")
	if err := p.client.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.c.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the relay side did not close after the peer's close")
	}
}

func TestConnCloseNowNeverBlocks(t *testing.T) { eachStream(t, testConnCloseNowNeverBlocks) }

func testConnCloseNowNeverBlocks(t *testing.T, mode streamMode) {
	p := newConnPair(t, mode, 1<<30)
	chunk := make([]byte, 1<<20)
	for range 64 { // more than the socket buffers hold: the writer blocks
		p.c.Send(Message{Kind: websocket.BinaryMessage, Data: chunk})
	}
	time.Sleep(100 * time.Millisecond)
	// The stuck writer gives up only after closeLinger; closeNow must not
	// wait for that.
	returned := make(chan struct{})
	go func() {
		p.c.CloseNow(wire.CloseGoingAway, "bye")
		close(returned)
	}()
	select {
	case <-returned:
	case <-p.c.done:
		t.Fatal("closeNow returned only once the stuck writer had given up")
	}
	select {
	case <-p.c.done:
	case <-time.After(5 * time.Second):
		t.Fatal("a writer stuck on a peer that reads nothing did not give up")
	}
}

// TestConnCloseNowBetweenTakeAndWrite kills a connection after its writer
// took a batch (a dashboard's ping, due as its hello deadline passed) and
// before it wrote it: the peer still gets the close code, not a reset.
func TestConnCloseNowBetweenTakeAndWrite(t *testing.T) {
	eachStream(t, testConnCloseNowBetweenTakeAndWrite)
}

func testConnCloseNowBetweenTakeAndWrite(t *testing.T, mode streamMode) {
	p := newConnPair(t, mode, 1<<30)
	var once sync.Once
	p.c.afterTake = func() {
		once.Do(func() { p.c.CloseNow(wire.CloseBadHandshake, "no hello received") })
	}
	p.c.sendControl(websocket.PingMessage, nil)
	_ = p.client.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := p.client.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != wire.CloseBadHandshake || ce.Text != "no hello received" {
			t.Fatalf("connection ended with %v, want close %d %q", err, wire.CloseBadHandshake, "no hello received")
		}
		return
	}
}
