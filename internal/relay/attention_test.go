package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/agent"
	"switchboard/internal/client"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

func (w *watcher) agentNamed(name string) wire.Agent {
	for _, a := range w.cl.State().Agents {
		if a.Name == name {
			return a
		}
	}
	return wire.Agent{}
}

func (w *watcher) waitAttention(id string, want wire.Attention) wire.Command {
	w.t.Helper()
	relaytest.Eventually(w.t, waitLong, "command "+id+" "+string(want), func() bool { return w.command(id).Attention == want })
	return w.command(id)
}

func (w *watcher) waitAgentAttention(name string, want wire.Attention) wire.Agent {
	w.t.Helper()
	relaytest.Eventually(w.t, waitLong, "agent "+name+" "+string(want), func() bool { return w.agentNamed(name).Attention == want })
	return w.agentNamed(name)
}

func quietSoon(c *agent.Config) { c.QuietAfter = time.Second }

// A prompt shows as waiting, with its line, on the command and its agent,
// to dashboards there before and to ones that join later, and after a
// relay restart before the agent is back.
func TestAttentionReachesEveryDashboardAndSurvivesARestart(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	startAgent(t, r, "box", func(c *agent.Config) {
		// Slow to come back, so that a dashboard sees the relay's stored
		// state after the restart before the agent reports again.
		c.ReconnectMin, c.ReconnectMax = 3*time.Second, 3*time.Second
	})
	w := watch(t, r)
	if a := w.waitAgentAttention("box", wire.AttentionIdle); a.AttentionReason != "" {
		t.Fatalf("an idle agent with a reason: %+v", a)
	}
	id := w.run(one("box"), wire.CommandSpec{Shell: `echo working; read -p "Deploy to prod? [y/N] " x; echo "got $x"`})[0].ID
	c := w.waitAttention(id, wire.AttentionWaiting)
	if c.AttentionReason != "Deploy to prod? [y/N]" || c.AttentionSince.IsZero() {
		t.Fatalf("waiting command %+v", c)
	}
	if a := w.agentNamed("box"); a.Attention != wire.AttentionWaiting || a.AttentionCommand != id || a.AttentionReason != c.AttentionReason {
		t.Fatalf("agent summary %+v", a)
	}

	late := watch(t, r) // its snapshot says so at once
	if got := late.command(id); got.Attention != wire.AttentionWaiting || got.AttentionReason != c.AttentionReason {
		t.Fatalf("a dashboard that joined later sees %+v", got)
	}

	r.Stop()
	r.Start()
	cl, err := client.Dial(context.Background(), client.Config{Relay: r.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, a := range cl.State().Agents {
		if a.Attention != wire.AttentionOffline {
			t.Fatalf("the agent came back too soon for this test: %+v", a)
		}
	}
	if got := cl.State().Commands[id]; got.Attention != wire.AttentionWaiting || got.AttentionReason != c.AttentionReason {
		t.Fatalf("after a restart the snapshot has %+v", got)
	}
	relaytest.Eventually(t, waitLong, "the agent back, still waiting", func() bool {
		for _, a := range cl.State().Agents {
			if a.Name == "box" && a.Attention == wire.AttentionWaiting {
				return true
			}
		}
		return false
	})
	if _, err := cl.QuickReply(context.Background(), wire.QuickReply{Agent: "box", Text: "y\r"}); err != nil {
		t.Fatal(err)
	}
	w.waitEnd(id)
	if !strings.Contains(w.out(id), "got y") {
		t.Fatalf("output %q", w.out(id))
	}
	if got := w.command(id); got.Attention != "" || got.AttentionReason != "" {
		t.Fatalf("a final command keeps attention %+v", got)
	}
	w.waitAgentAttention("box", wire.AttentionIdle)
	w.noErrors()
}

func TestAgentSummaryIsItsMostUrgentCommand(t *testing.T) {
	r := relaytest.Start(t, relay.Config{})
	startAgent(t, r, "box", quietSoon)
	w := watch(t, r)
	w.waitAgent("box", wire.AgentIdle)
	busy := w.run(one("box"), wire.CommandSpec{Shell: "while :; do echo tick; sleep 0.1; done"})[0].ID
	w.waitAttention(busy, wire.AttentionWorking)
	if a := w.agentNamed("box"); a.Attention != wire.AttentionWorking || a.AttentionCommand != busy {
		t.Fatalf("summary %+v", a)
	}
	asks := w.run(one("box"), wire.CommandSpec{Shell: `read -p "Name? " x`})[0].ID
	if a := w.waitAgentAttention("box", wire.AttentionWaiting); a.AttentionCommand != asks || a.AttentionReason != "Name?" {
		t.Fatalf("summary %+v", a)
	}
	ctx := context.Background()
	if err := w.cl.Cancel(asks); err != nil {
		t.Fatal(err)
	}
	w.waitEnd(asks)
	if a := w.waitAgentAttention("box", wire.AttentionWorking); a.AttentionCommand != busy {
		t.Fatalf("summary %+v", a)
	}
	// Nothing is waiting: a quick reply is refused rather than typed into
	// a busy program.
	var e *wire.Error
	if _, err := w.cl.QuickReply(ctx, wire.QuickReply{Agent: "box", Text: "y\r"}); !errors.As(err, &e) || e.Code != wire.CodeNotWaiting {
		t.Fatalf("quick reply to a busy agent: %v", err)
	}
	if _, err := w.cl.QuickReply(ctx, wire.QuickReply{CommandID: busy, Text: "y\r"}); !errors.As(err, &e) || e.Code != wire.CodeNotWaiting {
		t.Fatalf("quick reply to a busy command: %v", err)
	}
	for _, bad := range []wire.QuickReply{{Agent: "box"}, {Text: "y"}, {Agent: "box", CommandID: busy, Text: "y"},
		{Agent: "box", Text: strings.Repeat("y", wire.MaxReplyText+1)}} {
		if _, err := w.cl.QuickReply(ctx, bad); !errors.As(err, &e) || e.Code != wire.CodeInvalidArgument {
			t.Fatalf("quick reply %+v: %v", bad, err)
		}
	}
	if _, err := w.cl.QuickReply(ctx, wire.QuickReply{Agent: "nobody", Text: "y"}); !errors.As(err, &e) || e.Code != wire.CodeNotFound {
		t.Fatalf("quick reply to no agent: %v", err)
	}
	_ = w.cl.Cancel(busy)
	w.waitEnd(busy)
}

// Quick replies need an operator, and each is in the audit trail.
func TestQuickRepliesAreAudited(t *testing.T) {
	r, admin := relaytest.StartAuth(t, relay.Config{})
	agentToken := r.Token("agent-box", store.RoleAgent, 0)
	viewerToken := r.Token("viewer", store.RoleViewer, 0)
	startAgent(t, r, "box", func(c *agent.Config) { c.Token = agentToken })
	dial := func(token string) *client.Client {
		cl, err := client.Dial(context.Background(), client.Config{Relay: r.URL(), Token: token})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		return cl
	}
	op, viewer := dial(admin), dial(viewerToken)
	ctx := context.Background()
	relaytest.Eventually(t, waitLong, "agent box", func() bool { return len(op.State().Agents) == 1 })
	cmds, err := op.Run(ctx, one("box"), wire.CommandSpec{Shell: `read -p "Continue? " x; echo "x=$x"`})
	if err != nil {
		t.Fatal(err)
	}
	id := cmds[0].ID
	relaytest.Eventually(t, waitLong, "waiting", func() bool { return op.State().Commands[id].Attention == wire.AttentionWaiting })
	var e *wire.Error
	if _, err := viewer.QuickReply(ctx, wire.QuickReply{CommandID: id, Text: "n\r"}); !errors.As(err, &e) || e.Code != wire.CodeForbidden {
		t.Fatalf("a viewer's quick reply: %v", err)
	}
	if got, err := op.QuickReply(ctx, wire.QuickReply{CommandID: id, Text: "yes\r"}); err != nil || got != id {
		t.Fatalf("quick reply: %q %v", got, err)
	}
	relaytest.Eventually(t, waitLong, "the command to end", func() bool { return op.State().Commands[id].State.Final() })
	relaytest.Eventually(t, waitLong, "the reply in the audit trail", func() bool {
		entries, err := op.Audit(ctx, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range entries {
			if en.Action == "quick_reply" && en.Subject == id && en.Result == "ok" && en.Token == "admin" &&
				strings.Contains(en.Detail, `"yes\r"`) && strings.Contains(en.Detail, "Continue?") {
				return true
			}
		}
		return false
	})
}

// notifySink is a webhook receiver that records attention events.
type notifySink struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []relay.NotifyEvent
	fail int // answer this many posts with 503 first
	hold chan struct{}
}

func newNotifySink(t *testing.T, fail int) *notifySink {
	s := &notifySink{fail: fail}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if s.hold != nil {
			<-s.hold
		}
		body, _ := io.ReadAll(req.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		if req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", req.Header.Get("Content-Type"))
		}
		if s.fail > 0 {
			s.fail--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var ev relay.NotifyEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("body %q: %v", body, err)
		}
		s.got = append(s.got, ev)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *notifySink) events() []relay.NotifyEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]relay.NotifyEvent(nil), s.got...)
}

func TestNotifyURLGetsChangesToAndFromWaiting(t *testing.T) {
	sink := newNotifySink(t, 2) // the first post fails twice: it is retried
	r := relaytest.Start(t, relay.Config{NotifyURL: sink.srv.URL + "/hook"})
	startAgent(t, r, "box", func(c *agent.Config) { c.Labels = map[string]string{"pool": "ci"} })
	w := watch(t, r)
	w.waitAgent("box", wire.AgentIdle)
	id := w.run(one("box"), wire.CommandSpec{Shell: `read -p "Ship it? " x; sleep 0.5; read -p "Sure? " y`})[0].ID
	w.waitAttention(id, wire.AttentionWaiting)
	relaytest.Eventually(t, waitLong, "a post that it waits", func() bool { return len(sink.events()) >= 1 })
	ev := sink.events()[0]
	if ev.Type != "attention" || ev.Attention != wire.AttentionWaiting || ev.Agent != "box" || ev.CommandID != id ||
		ev.Reason != "Ship it?" || ev.Labels["pool"] != "ci" || ev.Text != "box is waiting: Ship it?" || ev.State != wire.StateRunning {
		t.Fatalf("event %+v", ev)
	}
	if _, err := w.cl.QuickReply(context.Background(), wire.QuickReply{CommandID: id, Text: "y\r"}); err != nil {
		t.Fatal(err)
	}
	relaytest.Eventually(t, waitLong, "posts that it stopped and started waiting again", func() bool { return len(sink.events()) >= 3 })
	evs := sink.events()
	if evs[1].Previous != wire.AttentionWaiting || evs[1].Attention == wire.AttentionWaiting || evs[2].Attention != wire.AttentionWaiting || evs[2].Reason != "Sure?" {
		t.Fatalf("events %+v", evs)
	}
	if err := w.cl.Cancel(id); err != nil {
		t.Fatal(err)
	}
	relaytest.Eventually(t, waitLong, "a post that the waiting command ended", func() bool { return len(sink.events()) >= 4 })
	if last := sink.events()[3]; last.Attention != "" || last.Previous != wire.AttentionWaiting || !last.State.Final() {
		t.Fatalf("event %+v", last)
	}
}

// A receiver that never answers costs the relay nothing: events flow to
// dashboards as before.
func TestNotifyURLNeverHoldsTheRelay(t *testing.T) {
	sink := newNotifySink(t, 0)
	sink.hold = make(chan struct{})
	defer close(sink.hold)
	r := relaytest.Start(t, relay.Config{NotifyURL: sink.srv.URL})
	startAgent(t, r, "box", nil)
	w := watch(t, r)
	w.waitAgent("box", wire.AgentIdle)
	for range 3 {
		id := w.run(one("box"), wire.CommandSpec{Shell: `read -p "Q? " x`})[0].ID
		w.waitAttention(id, wire.AttentionWaiting)
		if err := w.cl.Cancel(id); err != nil {
			t.Fatal(err)
		}
		w.waitEnd(id)
	}
}
