package tui

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"switchboard/internal/client"
	"switchboard/internal/safetext"
	"switchboard/internal/wire"
)

// Timing of the dashboard.
const (
	// frameInterval paces parsing and redrawing of pane output (60 fps).
	frameInterval = 16 * time.Millisecond
	// frameBudget is the parse time all panes share per frame: at most
	// ~40% of one core however fast output arrives.
	frameBudget    = 6 * time.Millisecond
	requestTimeout = 15 * time.Second
	flashFor       = 6 * time.Second
)

// common is what every component shares: styles, keys and the clock.
type common struct {
	st   styles
	keys keyMap
	now  func() time.Time
}

// Options tune the dashboard.
type Options struct {
	Relay    string // shown in the terminal's title
	NoNotify bool   // no bell or OSC 9 to the user's terminal when an agent starts waiting
	Logger   *slog.Logger
	Now      func() time.Time // the clock; tests replace it
	// SeveralRelays says the client was given more than one relay to
	// fail over between: the status line and the title name the one it
	// is on.
	SeveralRelays bool
}

type focusArea int

const (
	focusList focusArea = iota
	focusPanes
	focusBar
)

// Messages of the root model.
type (
	frameMsg     struct{}
	clockMsg     struct{}
	runResultMsg struct {
		line string
		cmds []wire.Command
		err  error
	}
)

// Model is the dashboard's root: it owns the relay connection's view of the
// world, handles global keys and hands the rest to the focused component.
type Model struct {
	c     *common
	opts  Options
	b     Backend
	out   *outbox
	log   *slog.Logger
	w, h  int
	listW int

	agents  map[string]wire.Agent
	cmds    map[string]wire.Command
	streams map[string]*stream
	mine    map[string]bool // commands this dashboard started
	reopen  map[string]bool // agents whose restarted session opens in a pane when it starts
	// replaced says which panes the latest openings replaced (sayReplaced).
	replaced []string

	list   *agentList
	bar    *cmdBar
	panes  *paneSet
	picker *historyPicker
	search *searchView               // S: search all output
	seeks  map[string]wire.SearchHit // panes a search result opened, until its line is found
	// replay, when set, is a past command played back (replay.go).
	replay *replayView
	// confirm, when set, is a question waiting for y or another key.
	confirm *confirmPrompt
	// reply, when set, is the quick-reply line (attention.go).
	reply *replyPrompt
	// notes are agents that began waiting, for the user's terminal;
	// lastNotify is when it last rang.
	notes      []string
	lastNotify time.Time

	showHelp    bool
	signin      signInMsg // the help view's sign-in link
	forgetArmed string    // the agent F was pressed on once
	focus       focusArea
	interactive bool
	conn        client.ConnState
	relay       string // the relay connected to last, as HOST:PORT (ConnState.Relay)
	retryAt     time.Time
	flash       string
	flashBad    bool
	flashUntil  time.Time

	framePending bool
	lastFrame    time.Time // when the last frame parsed output
	cache        string
	dirty        bool
}

// New builds the dashboard on a connected backend.
func New(b Backend, opts Options) *Model {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &common{st: defaultStyles(), keys: defaultKeys(), now: opts.Now}
	m := &Model{c: c, opts: opts, b: b, log: opts.Logger, out: newOutbox(b, opts.Logger),
		agents: map[string]wire.Agent{}, cmds: map[string]wire.Command{},
		streams: map[string]*stream{}, mine: map[string]bool{}, reopen: map[string]bool{},
		list: newAgentList(c), bar: newCmdBar(c), panes: &paneSet{c: c},
		conn: client.ConnState{State: client.Connected}, dirty: true}
	m.list.focused = true
	m.applyState(b.State())
	m.resize(80, 24)
	return m
}

// Close stops the model's goroutines (panes' and the replay's reply
// pumps, the outbox).
func (m *Model) Close() {
	for _, p := range m.panes.panes {
		p.close()
	}
	m.panes.panes = nil
	m.closeReplay()
	m.out.close()
}

// Init starts listening to the relay and the clock.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(m.waitEvents(), clockTick())
}

func (m *Model) waitEvents() tea.Cmd { return waitEvents(m.b.Events(), m.out.failures) }

func clockTick() tea.Cmd {
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return clockMsg{} })
}

// Update handles one message. Whatever it changed, a pane with output
// still to parse gets a frame: a pane opened on a quiet command has its
// history to draw and no more output coming to ask for one.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := m.update(msg)
	return m, tea.Batch(cmd, m.scheduleFrame())
}

func (m *Model) update(msg tea.Msg) tea.Cmd {
	wasDirty := m.dirty
	m.dirty = true
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
	case eventsMsg:
		m.dirty = wasDirty // output alone changes nothing until its frame
		for _, ev := range msg.events {
			m.onEvent(ev)
		}
		if m.refreshWaiting() {
			m.dirty = true
		}
		return tea.Batch(m.waitEvents(), m.takeNotification(), m.startReplay())
	case sendFailedMsg:
		m.setFlash(fmt.Sprintf("%s failed: %v", msg.what, msg.err), true)
		return m.waitEvents()
	case clientClosedMsg:
		m.conn = client.ConnState{State: client.Offline}
	case frameMsg:
		m.framePending = false
		m.lastFrame = time.Now()
		m.stepPanes()
	case clockMsg:
		m.refreshWaiting()
		return tea.Batch(clockTick(), m.takeNotification())
	case runResultMsg:
		m.onRunResult(msg)
	case historyMsg:
		if m.picker != nil && m.picker.agentID == msg.agentID {
			m.picker.loaded(msg)
		}
	case openCommandMsg:
		m.picker, m.search = nil, nil
		m.openPane(msg.cmd)
	case closePickerMsg:
		m.picker = nil
	case openSearchMsg:
		m.picker = nil
		m.openSearch()
	case openHitMsg:
		m.openHit(msg)
	case searchMsg:
		if m.search != nil {
			m.search.loaded(msg)
		}
	case closeSearchMsg:
		m.search = nil
	case signInMsg:
		m.signin = msg
	case forgetMsg:
		m.onForget(msg)
	case submitMsg:
		return m.run(msg.line)
	case leaveBarMsg:
		m.setFocus(focusList)
	case tea.KeyPressMsg:
		return m.onKey(msg)
	case tea.PasteMsg:
		return m.onPaste(msg)
	case tea.MouseWheelMsg:
		m.onWheel(msg)
	case tea.MouseClickMsg:
		m.onClick(msg)
	default:
		if cmd, ok := m.replayMsg(msg); ok {
			return cmd
		}
		m.dirty = wasDirty
	}
	return nil
}

// scheduleFrame asks for a frame if some pane has output to show: at
// once when the last frame is a frame interval old (a keystroke's echo
// after a quiet spell is drawn without waiting a tick), else when it
// will be, so that a busy pane still costs at most one parse a frame.
func (m *Model) scheduleFrame() tea.Cmd {
	if m.framePending {
		return nil
	}
	for _, p := range m.panes.panes {
		if p.pending() > 0 || p.dirty {
			m.framePending = true
			wait := m.frameWait(time.Now())
			if wait <= 0 {
				return func() tea.Msg { return frameMsg{} }
			}
			return tea.Tick(wait, func(time.Time) tea.Msg { return frameMsg{} })
		}
	}
	return nil
}

// frameWait is how long after now the next frame may parse output.
func (m *Model) frameWait(now time.Time) time.Duration {
	return max(frameInterval-now.Sub(m.lastFrame), 0)
}

// stepPanes parses pending output, sharing the frame budget between the
// panes that have some.
func (m *Model) stepPanes() {
	defer m.seekHits()
	busy := 0
	for _, p := range m.panes.panes {
		if p.pending() > 0 {
			busy++
		}
	}
	if busy == 0 {
		return
	}
	budget := max(frameBudget/time.Duration(busy), time.Millisecond)
	for _, p := range m.panes.panes {
		if p.pending() > 0 {
			p.step(budget)
		}
	}
}

// resize lays everything out for a w×h terminal.
func (m *Model) resize(w, h int) {
	m.w, m.h = max(w, 20), max(h, 6)
	m.listW = min(max(m.w*3/10, 26), 40)
	mainH := m.h - 2
	m.list.SetSize(m.listW, mainH)
	m.bar.SetSize(m.w)
	if m.replay != nil {
		m.replay.SetSize(m.w, mainH)
	}
	m.layoutPanes()
}

func (m *Model) layoutPanes() {
	mainH := m.h - 2
	if m.panes.zoom {
		m.panes.SetSize(m.w, mainH)
	} else {
		m.panes.SetSize(m.w-m.listW, mainH)
	}
	if m.search != nil {
		m.search.SetSize(m.w, mainH)
	}
	if m.picker != nil {
		m.picker.SetSize(m.w, mainH)
	}
	for _, p := range m.panes.panes {
		if m.mine[p.id] || (m.interactive && p == m.panes.focused()) {
			m.fitRemote(p)
		}
	}
}

// fitRemote makes a running command's terminal the size of its pane.
func (m *Model) fitRemote(p *pane) {
	if m.cmds[p.id].State != wire.StateRunning {
		return
	}
	if cols, rows, changed := p.fitEmulator(); changed {
		m.out.resize(p.id, cols, rows)
	}
}

func (m *Model) setFlash(s string, bad bool) {
	m.flash, m.flashBad, m.flashUntil = safetext.Escape(s), bad, m.c.now().Add(flashFor)
	if bad {
		m.log.Warn(s)
	}
}

func (m *Model) setFocus(f focusArea) tea.Cmd {
	m.focus = f
	m.list.focused = f == focusList
	if f == focusBar {
		m.updateTarget()
		return m.bar.focus()
	}
	m.bar.blur()
	return nil
}

// updateTarget refreshes the command bar's target description.
func (m *Model) updateTarget() {
	ts := m.list.targets()
	switch {
	case len(ts) == 0:
		m.bar.setTarget("(no agent)")
	case len(ts) == 1:
		m.bar.setTarget(safetext.Escape(ts[0].Name))
	case len(ts) <= 3:
		names := make([]string, len(ts))
		for i, a := range ts {
			names[i] = safetext.Escape(a.Name)
		}
		m.bar.setTarget(strings.Join(names, ", "))
	default:
		m.bar.setTarget(fmt.Sprintf("%d agents", len(ts)))
	}
}
