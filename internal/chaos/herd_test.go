package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/client"
	"switchboard/internal/proctest"
	"switchboard/internal/wire"
)

// simAgent speaks the agent protocol directly, with just enough of an
// agent to keep its rules: it holds a command's output until the relay
// acknowledges it, lists what it holds in hello, resends from the offsets
// in welcome, and reconnects with jittered backoff. Five hundred real
// agent processes would not fit on the machine; these do.
type simAgent struct {
	info    wire.AgentInfo
	url     string
	release chan struct{} // closed: every command it runs ends now

	mu       sync.Mutex
	cmds     map[string]*simCmd // held until acknowledged as done
	sessions int                // connections welcomed
}

// simCmd is a command a simAgent runs: part one of its output at start,
// part two and the exit on release.
type simCmd struct {
	id          string
	out         []byte
	acked       int64
	exited      bool
	startedSent bool
	sent        int64 // output sent on the current connection
	exitSent    bool  // on the current connection
}

func simParts(id string) (one, two []byte) {
	return fmt.Appendf(nil, "%s: first part, written before the restart\n", id),
		fmt.Appendf(nil, "%s: second part, written while the relay was down\n", id)
}

func newSimAgent(url string, i int, release chan struct{}) *simAgent {
	name := fmt.Sprintf("sim-%03d", i)
	return &simAgent{url: url + wire.AgentPath, release: release, cmds: make(map[string]*simCmd),
		info: wire.AgentInfo{ID: "a-" + name, Name: name, Labels: map[string]string{"pool": "sim"}, MaxConcurrent: 1}}
}

// run keeps a connection to the relay until ctx ends.
func (a *simAgent) run(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		if a.session(ctx) {
			backoff = 50 * time.Millisecond
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, time.Second)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// ackReport says, for a failed wait, how many agents hold no command and
// how many hold output the relay has not acknowledged, with a few of them.
func ackReport(sims []*simAgent) string {
	var none, unacked []string
	for _, s := range sims {
		s.mu.Lock()
		if len(s.cmds) == 0 {
			none = append(none, fmt.Sprintf("%s (sessions %d)", s.info.Name, s.sessions))
		}
		for _, c := range s.cmds {
			if c.acked < int64(len(c.out)) {
				unacked = append(unacked, fmt.Sprintf("%s/%s acked %d of %d (started sent %v, sent %d, sessions %d)",
					s.info.Name, c.id, c.acked, len(c.out), c.startedSent, c.sent, s.sessions))
			}
		}
		s.mu.Unlock()
	}
	return fmt.Sprintf("%d agents hold no command %v; %d commands not acknowledged %v",
		len(none), none[:min(len(none), 5)], len(unacked), unacked[:min(len(unacked), 5)])
}

// holding reports how many commands the agent still holds.
func (a *simAgent) holding() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.cmds)
}

// acked reports whether the relay has stored all output of every command.
func (a *simAgent) acked() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.cmds {
		if c.acked < int64(len(c.out)) {
			return false
		}
	}
	return len(a.cmds) > 0
}

// session runs one connection; it reports whether it was welcomed.
func (a *simAgent) session(ctx context.Context) bool {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	ws, _, err := websocket.DefaultDialer.DialContext(dctx, a.url, nil)
	cancel()
	if err != nil {
		return false
	}
	defer ws.Close()
	stop := context.AfterFunc(ctx, func() { ws.Close() })
	defer stop()

	a.mu.Lock()
	hello := &wire.Hello{Protocol: wire.ProtocolVersion, Client: "chaos-sim", Agent: &a.info}
	for _, c := range a.cmds {
		hello.Holding = append(hello.Holding, wire.HeldCommand{CommandID: c.id, Offset: int64(len(c.out)), Exited: c.exited})
	}
	a.mu.Unlock()
	if ws.WriteMessage(websocket.TextMessage, wire.MustEncode(hello)) != nil {
		return false
	}
	_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, data, err := ws.ReadMessage()
	if err != nil {
		return false
	}
	m, err := wire.Decode(data)
	w, ok := m.(*wire.Welcome)
	if err != nil || !ok {
		return false
	}
	_ = ws.SetReadDeadline(time.Time{})
	a.mu.Lock()
	a.sessions++
	for _, c := range a.cmds {
		c.sent, c.exitSent = 0, false
		for _, r := range w.Resume {
			if r.CommandID == c.id {
				c.sent = r.Offset
			}
		}
	}
	a.mu.Unlock()

	// The reader hands messages over until the connection fails or this
	// session ends; the session alone writes.
	msgs := make(chan wire.Message)
	quit, readDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if m, err := wire.Decode(data); err == nil {
				select {
				case msgs <- m:
				case <-quit:
					return
				}
			}
		}
	}()
	defer func() { close(quit); ws.Close(); <-readDone }()
	release := a.release
	for {
		if err := a.flush(ws); err != nil {
			return true
		}
		select {
		case <-ctx.Done():
			return true
		case <-readDone:
			return true
		case <-release:
			release = nil
			a.finishAll()
		case m := <-msgs:
			a.handle(m)
		}
	}
}

func (a *simAgent) handle(m wire.Message) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch m := m.(type) {
	case *wire.Start:
		if a.cmds[m.Command.ID] != nil {
			return
		}
		one, _ := simParts(m.Command.ID)
		a.cmds[m.Command.ID] = &simCmd{id: m.Command.ID, out: one}
		if isClosed(a.release) {
			a.finishLocked(a.cmds[m.Command.ID])
		}
	case *wire.Ack:
		c := a.cmds[m.CommandID]
		if c == nil {
			return
		}
		c.acked = max(c.acked, m.Offset)
		if m.Done {
			delete(a.cmds, m.CommandID)
		}
	}
}

func (a *simAgent) finishAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.cmds {
		a.finishLocked(c)
	}
}

func (a *simAgent) finishLocked(c *simCmd) {
	if !c.exited {
		_, two := simParts(c.id)
		c.out = append(c.out, two...)
		c.exited = true
	}
}

// flush sends, in protocol order, each command's start, the output the
// relay lacks, and its exit.
func (a *simAgent) flush(ws *websocket.Conn) error {
	var msgs []outbound
	a.mu.Lock()
	for _, c := range a.cmds {
		if !c.startedSent {
			c.startedSent = true
			msgs = append(msgs, outbound{websocket.TextMessage, wire.MustEncode(&wire.Started{CommandID: c.id, PID: 1, StartedAt: time.Now().UTC()})})
		}
		if c.sent < int64(len(c.out)) {
			msgs = append(msgs, outbound{websocket.BinaryMessage, wire.OutputFrame(c.id, c.sent, c.out[c.sent:])})
			c.sent = int64(len(c.out))
		}
		if c.exited && !c.exitSent {
			c.exitSent = true
			code := 0
			msgs = append(msgs, outbound{websocket.TextMessage, wire.MustEncode(&wire.Exited{CommandID: c.id, State: wire.StateExited,
				ExitCode: &code, Offset: int64(len(c.out)), EndedAt: time.Now().UTC()})})
		}
	}
	a.mu.Unlock()
	for _, m := range msgs {
		_ = ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := ws.WriteMessage(m.kind, m.data); err != nil {
			return err
		}
	}
	return nil
}

type outbound struct {
	kind int
	data []byte
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestReconnectStampede is scenario 4: 500 agents, each holding a running
// command, and 200 dashboards are connected when the relay is killed. The
// commands finish while it is down. After the restart every agent and
// every dashboard reconnects at once; all must be back, every dashboard
// must show the same state (every agent idle, every command it knows
// exited with all its output, the same event sequence), and every
// command's output must be stored whole, within the time recorded.
func TestReconnectStampede(t *testing.T) {
	noLeaks(t)
	const agents, dashboards = 500, 200
	addr, db := proctest.FreeAddr(t), filepath.Join(t.TempDir(), "sb.db")
	relay := startRelay(t, addr, db)
	idle := relay.idleUsage(t)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	release := make(chan struct{})
	sims := make([]*simAgent, agents)
	began := time.Now()
	for i := range sims {
		sims[i] = newSimAgent(relay.url(), i, release)
		wg.Go(func() { sims[i].run(ctx) })
	}
	online := func() float64 { return relay.metric("switchboard_agents_online") }
	waitFor(t, 60*time.Second, "500 agents online", func() bool { return online() == agents })
	agentsUp := time.Since(began)

	began = time.Now()
	dash := make([]*follower, dashboards)
	var dwg sync.WaitGroup
	for i := range dash {
		dwg.Go(func() { dash[i] = follow(t, relay.url(), client.Config{Client: fmt.Sprintf("d%03d", i)}) })
		if i%20 == 19 {
			dwg.Wait()
		}
	}
	dwg.Wait()
	dashUp := time.Since(began)
	result(t, "first start: %d agents online in %.2fs, %d dashboards connected in %.2fs", agents, agentsUp.Seconds(), dashboards, dashUp.Seconds())

	runCtx, runCancel := context.WithTimeout(context.Background(), 30*time.Second)
	cmds, err := dash[0].cl.Run(runCtx, wire.Targets{Labels: map[string]string{"pool": "sim"}}, wire.CommandSpec{Argv: []string{"sim"}})
	runCancel()
	if err != nil || len(cmds) != agents {
		t.Fatalf("run on every agent: %v (%d commands)", err, len(cmds))
	}
	allAcked := func() bool {
		for _, s := range sims {
			if !s.acked() {
				return false
			}
		}
		return true
	}
	if !eventually(60*time.Second, allAcked) {
		t.Fatalf("timed out after 1m0s waiting for every command running and its first part stored: %s; relay metrics:\n%s", ackReport(sims), relay.metricLines())
	}

	relay.Stop(syscall.SIGKILL)
	close(release) // the commands end while the relay is down
	killedAt := time.Now()
	selfCPU0 := cpuSeconds("self")
	relay = startRelay(t, addr, db)
	restartedIn := time.Since(killedAt)

	// Poll gently: scrapes and 200 state copies cost the same two cores
	// the relay and the dashboards need.
	var tAgents, tDash time.Duration
	deadline := time.Now().Add(120 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("not back and consistent within 120s: %v agents online, %v dashboards, %d agents still holding commands; relay metrics:\n%s",
				online(), relay.metric("switchboard_connections", `kind="dashboard"`),
				len(slices.DeleteFunc(slices.Clone(sims), func(s *simAgent) bool { return s.holding() == 0 })), relay.metricLines())
		}
		time.Sleep(100 * time.Millisecond)
		if tAgents == 0 && online() == agents {
			tAgents = time.Since(killedAt)
		}
		if tDash == 0 && relay.metric("switchboard_connections", `kind="dashboard"`) == dashboards {
			tDash = time.Since(killedAt)
		}
		if tAgents == 0 || tDash == 0 || slices.ContainsFunc(sims, func(s *simAgent) bool { return s.holding() != 0 }) {
			continue
		}
		if dashboardsAgree(dash, agents) {
			break
		}
	}
	tAll := time.Since(killedAt)
	relayCPU, selfCPU := cpuSeconds(fmt.Sprint(relay.Pid())), cpuSeconds("self")-selfCPU0
	reconnects := 0
	for _, d := range dash {
		reconnects += d.reconnected()
	}
	// Connections the restarted relay closed during the recovery, by kind
	// and why ("peer": the peer left or stopped answering; "handshake": no
	// hello in time): the read pollers must not cost agents their
	// connections while a stampede keeps them busy.
	var closed []string
	for line := range strings.Lines(relay.metricLines()) {
		if rest, ok := strings.CutPrefix(line, "switchboard_disconnects_total"); ok {
			closed = append(closed, strings.TrimSpace(rest))
		}
	}
	if len(closed) == 0 {
		closed = []string{"none"}
	}
	result(t, "connections the relay closed during the recovery: %s; agents welcomed more than once after the restart: %d of %d",
		strings.Join(closed, ", "), reconnectedAgain(sims), agents)
	result(t, "after SIGKILL: relay serving in %.2fs; all %d agents online %.2fs after the kill; all %d dashboards reconnected at %.2fs; every agent acknowledged and every dashboard consistent at %.2fs (%d dashboard reconnect attempts; CPU used meanwhile: relay %.1fs, test process %.1fs)",
		restartedIn.Seconds(), agents, tAgents.Seconds(), dashboards, tDash.Seconds(), tAll.Seconds(), reconnects, relayCPU, selfCPU)

	hctx, hcancel := context.WithTimeout(context.Background(), 30*time.Second)
	hist, err := dash[0].cl.History(hctx, wire.HistoryQuery{Limit: 1000})
	hcancel()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]wire.Command{}
	for _, c := range hist {
		byID[c.ID] = c
	}
	var ids []string
	for _, c := range cmds {
		one, two := simParts(c.ID)
		h := byID[c.ID]
		if h.State != wire.StateExited || h.OutputBytes != int64(len(one)+len(two)) {
			t.Errorf("history: command %s %s with %d bytes", c.ID, h.State, h.OutputBytes)
		}
		ids = append(ids, c.ID)
	}
	for _, d := range dash {
		if errs := d.errors(); len(errs) > 0 {
			t.Errorf("dashboard saw: %v", errs)
			break
		}
	}

	for _, d := range dash {
		d.close()
	}
	cancel()
	wg.Wait()
	relay.checkNoLeaks(t, idle)
	relay.Stop(syscall.SIGTERM)
	stored := storedOutput(t, db, ids...)
	for _, id := range ids {
		one, two := simParts(id)
		if string(stored[id]) != string(one)+string(two) {
			t.Errorf("stored output of %s: %q", id, stored[id])
		}
	}
}

// dashboardsAgree reports whether every dashboard shows every agent idle,
// every command it knows exited with all its output, and the same event
// sequence number.
func dashboardsAgree(dash []*follower, agents int) bool {
	var seq uint64
	for i, d := range dash {
		st := d.cl.State()
		if i == 0 {
			seq = st.Seq
		}
		if st.Seq != seq || len(st.Agents) != agents {
			return false
		}
		for _, a := range st.Agents {
			if a.Status != wire.AgentIdle {
				return false
			}
		}
		for _, c := range st.Commands {
			one, two := simParts(c.ID)
			if c.State != wire.StateExited || c.OutputBytes != int64(len(one)+len(two)) {
				return false
			}
		}
	}
	return true
}

// eventually polls cond every 20 ms until it holds (true) or timeout
// passes (false), for waits whose failure needs its own report.
func eventually(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// reconnectedAgain counts the agents welcomed more than twice, that is
// more than once after the restart (once before it and once after is
// the rule).
func reconnectedAgain(sims []*simAgent) int {
	n := 0
	for _, s := range sims {
		s.mu.Lock()
		if s.sessions > 2 {
			n++
		}
		s.mu.Unlock()
	}
	return n
}
