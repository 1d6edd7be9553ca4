package tui

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"switchboard/internal/client"
	"switchboard/internal/wire"
)

// fakeBackend records what the model asks of the relay.
type fakeBackend struct {
	events   chan any
	mu       sync.Mutex
	state    client.State
	calls    []string
	inputs   []byte
	reply    []byte
	runs     []wire.CommandSpec
	runErr   error
	hist     []wire.Command
	timing   map[string][]wire.TimingEvent
	hits     []wire.SearchHit // what Search answers
	searched []string         // the queries Search was asked
	nextID   int
}

// newFakeBackend returns a backend whose event channel is closed: tests
// hand events to Update themselves, and the event pump returns at once.
func newFakeBackend() *fakeBackend {
	events := make(chan any)
	close(events)
	return &fakeBackend{events: events,
		state: client.State{Agents: map[string]wire.Agent{}, Commands: map[string]wire.Command{}}}
}

func (f *fakeBackend) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeBackend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeBackend) Inputs() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.inputs)
}

func (f *fakeBackend) Events() <-chan any { return f.events }
func (f *fakeBackend) State() client.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

func (f *fakeBackend) Run(_ context.Context, t wire.Targets, spec wire.CommandSpec) ([]wire.Command, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = append(f.runs, spec)
	if f.runErr != nil {
		return nil, f.runErr
	}
	var out []wire.Command
	for _, a := range t.Agents {
		f.nextID++
		out = append(out, wire.Command{ID: fmt.Sprintf("c-%d", f.nextID), AgentID: a, AgentName: f.state.Agents[a].Name,
			CommandSpec: spec, State: wire.StateQueued})
	}
	return out, nil
}

func (f *fakeBackend) ForgetAgent(_ context.Context, agent string) (string, error) {
	f.record("forget %s", agent)
	return agent, nil
}

func (f *fakeBackend) SignIn(context.Context) (string, time.Time, error) {
	return "http://relay.test/#signin=sbc_code", time.Date(2026, 1, 1, 15, 4, 5, 0, time.Local), nil
}

func (f *fakeBackend) History(context.Context, wire.HistoryQuery) ([]wire.Command, error) {
	return f.hist, nil
}

func (f *fakeBackend) Search(_ context.Context, q wire.SearchQuery) (*wire.SearchResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.searched = append(f.searched, q.Query)
	return &wire.SearchResult{Hits: f.hits}, nil
}

func (f *fakeBackend) Timing(_ context.Context, id string) ([]wire.TimingEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.timing[id], nil
}

func (f *fakeBackend) Subscribe(id string, off int64) error {
	f.record("subscribe %s %d", id, off)
	return nil
}

func (f *fakeBackend) Unsubscribe(id string) error {
	f.record("unsubscribe %s", id)
	return nil
}

func (f *fakeBackend) Input(id string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inputs = append(f.inputs, data...)
	return nil
}

func (f *fakeBackend) Reply(id string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reply = append(f.reply, data...)
	return nil
}

func (f *fakeBackend) Replies() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.reply)
}

func (f *fakeBackend) Resize(id string, cols, rows int) error {
	f.record("resize %s %dx%d", id, cols, rows)
	return nil
}

func (f *fakeBackend) Cancel(id string) error {
	f.record("cancel %s", id)
	return nil
}

func (f *fakeBackend) QuickReply(_ context.Context, m wire.QuickReply) (string, error) {
	f.record("quick reply %s %q", m.CommandID, m.Text)
	return m.CommandID, nil
}

func (f *fakeBackend) RestartSession(agent string) error {
	f.record("restart %s", agent)
	return nil
}

// harness drives a Model the way Bubble Tea would, with a fixed clock.
type harness struct {
	t   *testing.T
	b   *fakeBackend
	m   *Model
	now time.Time
}

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, w, h int, agents ...wire.Agent) *harness {
	t.Helper()
	b := newFakeBackend()
	for _, a := range agents {
		b.state.Agents[a.ID] = a
	}
	hs := &harness{t: t, b: b, now: t0}
	hs.m = New(b, Options{Now: func() time.Time { return hs.now }})
	t.Cleanup(hs.m.Close)
	hs.send(tea.WindowSizeMsg{Width: w, Height: h})
	return hs
}

func agent(id, name string, status wire.AgentStatus, running int, labels map[string]string) wire.Agent {
	return wire.Agent{AgentInfo: wire.AgentInfo{ID: id, Name: name, Labels: labels}, Status: status,
		Running: running, LastSeen: t0.Add(-90 * time.Second)}
}

// send runs Update with msg and then the commands it returned, except
// the ones that wait (ticks, the event pump), like a program would.
func (h *harness) send(msg tea.Msg) {
	h.t.Helper()
	_, cmd := h.m.Update(msg)
	h.run(cmd, 0)
}

func (h *harness) run(cmd tea.Cmd, depth int) {
	if cmd == nil || depth > 5 {
		return
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-done:
	case <-time.After(300 * time.Millisecond):
		return // the clock's one-second tick: tests send clockMsg themselves
	}
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			h.run(c, depth+1)
		}
	case frameMsg, clockMsg, eventsMsg, clientClosedMsg:
	default:
		_, next := h.m.Update(msg)
		h.run(next, depth+1)
	}
}

// events delivers client events as one batch, then lets frames parse.
func (h *harness) events(evs ...any) {
	h.t.Helper()
	h.send(eventsMsg{evs})
	h.frames()
}

// frames runs frames until no pane has output pending.
func (h *harness) frames() {
	for range 1000 {
		pending := false
		for _, p := range h.m.panes.panes {
			pending = pending || p.pending() > 0
		}
		if !pending {
			break
		}
		h.send(frameMsg{})
	}
	h.send(frameMsg{})
}

func (h *harness) key(keys ...string) {
	h.t.Helper()
	for _, k := range keys {
		h.send(keyMsg(k))
	}
}

func (h *harness) typeText(s string) {
	for _, r := range s {
		h.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// keyMsg builds a key press from its name ("enter", "ctrl+c", "a", "?").
func keyMsg(name string) tea.KeyPressMsg {
	named := map[string]rune{"enter": tea.KeyEnter, "esc": tea.KeyEscape, "tab": tea.KeyTab, "space": tea.KeySpace,
		"up": tea.KeyUp, "down": tea.KeyDown, "left": tea.KeyLeft, "right": tea.KeyRight, "pgup": tea.KeyPgUp,
		"pgdown": tea.KeyPgDown, "home": tea.KeyHome, "end": tea.KeyEnd, "backspace": tea.KeyBackspace, "f5": tea.KeyF5}
	var mod tea.KeyMod
	for {
		switch {
		case strings.HasPrefix(name, "ctrl+") && len(name) > 5:
			mod |= tea.ModCtrl
			name = name[5:]
			continue
		case strings.HasPrefix(name, "alt+") && len(name) > 4:
			mod |= tea.ModAlt
			name = name[4:]
			continue
		case strings.HasPrefix(name, "shift+") && len(name) > 6:
			mod |= tea.ModShift
			name = name[6:]
			continue
		}
		break
	}
	if r, ok := named[name]; ok {
		k := tea.KeyPressMsg{Code: r, Mod: mod}
		if r == tea.KeySpace && mod == 0 {
			k.Text = " "
		}
		return k
	}
	r := []rune(name)[0]
	k := tea.KeyPressMsg{Code: r, Mod: mod}
	if mod == 0 || mod == tea.ModShift {
		k.Text = name
	}
	return k
}

// screen is the plain text of the current view.
func (h *harness) screen() string {
	return ansi.Strip(h.m.View().Content)
}

func (h *harness) contains(want ...string) {
	h.t.Helper()
	s := h.screen()
	for _, w := range want {
		if !strings.Contains(s, w) {
			h.t.Fatalf("screen lacks %q:\n%s", w, s)
		}
	}
}

func (h *harness) lacks(bad ...string) {
	h.t.Helper()
	s := h.screen()
	for _, w := range bad {
		if strings.Contains(s, w) {
			h.t.Fatalf("screen has %q:\n%s", w, s)
		}
	}
}

// checkGeometry asserts the view is exactly w×h cells.
func (h *harness) checkGeometry() {
	h.t.Helper()
	lines := strings.Split(h.m.View().Content, "\n")
	if len(lines) != h.m.h {
		h.t.Fatalf("view has %d lines, want %d", len(lines), h.m.h)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w != h.m.w {
			h.t.Fatalf("line %d is %d cells wide, want %d: %q", i, w, h.m.w, ansi.Strip(l))
		}
	}
}

// eventually polls cond, giving goroutines (the outbox) time to work.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
