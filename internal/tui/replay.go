package tui

import (
	"bytes"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"switchboard/internal/recording"
	"switchboard/internal/wire"
)

// Replay tuning.
const (
	// maxReplayBytes is the most output a replay holds: it keeps the
	// command's whole output in memory, to play and to seek in.
	maxReplayBytes = 512 << 20
	// replaySeekStep is how far ←/→ and [ ] seek.
	replaySeekStep = 10 * time.Second
	// replayRefresh is how often the position shown moves while nothing
	// is due.
	replayRefresh = 200 * time.Millisecond
	// A seek (or a jump at high speed) that would parse more than
	// replayMaxFeed bytes at once parses only the last replayTail of
	// them, from a screen clear or a line's start, as a pane that falls
	// behind does: the screen is what those bytes draw, and Update stays
	// short however long the recording.
	replayMaxFeed = 1 << 20
	replayTail    = 256 << 10
)

// The replay's speeds and idle limits, which +/- and i step through.
var (
	replaySpeeds = []float64{0.5, 1, 2, 4, 8, 16}
	replayIdles  = []time.Duration{0, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second}
)

// Messages of the replay view.
type (
	// openReplayMsg: replay this past command.
	openReplayMsg struct{ cmd wire.Command }
	// closeReplayMsg: the replay view was closed.
	closeReplayMsg struct{}
	// replayTimingMsg carries the relay's answer to the timing request.
	replayTimingMsg struct {
		id     string
		events []wire.TimingEvent
		err    error
	}
	// replayTickMsg: time to play what is due; gen tells a tick that a
	// seek, pause or speed change made stale.
	replayTickMsg struct{ gen int }
)

// replayView plays a past command's recording in an emulator of its own,
// at its recorded times. It never sends anything to the command: a
// replay produces no input, and the emulator's answers are dropped.
type replayView struct {
	c   *common
	cmd wire.Command

	out     []byte             // the output, as it arrives from offset 0
	outDone bool               // every byte is here
	events  []wire.TimingEvent // the timing, once it arrived
	timed   bool
	err     error

	speed, idle int // indexes in replaySpeeds, replayIdles
	tl          *recording.Timeline
	p           *recording.Player
	clock       *recording.Clock
	t           *term
	fed         int64 // bytes parsed by the emulator, for tests
	gen         int
	w, h        int

	find replayFind
}

func newReplayView(c *common, cmd wire.Command) *replayView {
	return &replayView{c: c, cmd: cmd, speed: 1}
}

// close stops the emulator's goroutine.
func (v *replayView) close() {
	if v.t != nil {
		v.t.close()
		v.t = nil
	}
}

// SetSize sets the area the view fills.
func (v *replayView) SetSize(w, h int) { v.w, v.h = w, h }

// ready reports whether the recording is loaded and playing or paused.
func (v *replayView) ready() bool { return v.p != nil }

// output takes output the subscription delivered.
func (v *replayView) output(off int64, data []byte) {
	if v.outDone || v.ready() {
		return
	}
	if have := int64(len(v.out)); off > have { // bytes the agent lost: nothing to play there
		v.out = append(v.out, make([]byte, off-have)...)
	}
	if skip := int64(len(v.out)) - off; skip < int64(len(data)) {
		v.out = append(v.out, data[max(skip, 0):]...)
	}
	if int64(len(v.out)) >= v.cmd.OutputBytes {
		v.outDone = true
	}
}

// ended: the subscription delivered all the output there is.
func (v *replayView) ended() { v.outDone = true }

// timing takes the relay's answer to the timing request.
func (v *replayView) timing(msg replayTimingMsg) {
	v.events, v.err, v.timed = msg.events, msg.err, true
}

// start builds the player once the output and the timing are here, and
// plays from the start.
func (v *replayView) start() tea.Cmd {
	if v.ready() || v.err != nil || !v.timed || !v.outDone {
		return nil
	}
	v.tl = recording.TimelineOf(v.cmd, v.events)
	v.clock = recording.NewClock(replaySpeeds[v.speed], v.c.now())
	v.rebuild(0)
	return v.schedule()
}

// rebuild makes the player for the current idle limit and the emulator
// afresh, and plays up to where the output played so far ends.
func (v *replayView) rebuild(played int64) {
	v.p = recording.NewPlayer(v.tl.WithIdleLimit(replayIdles[v.idle]), v.out)
	v.close()
	at := time.Duration(0)
	if played > 0 {
		at = v.p.SeekOffset(played - 1)
	}
	v.seek(at)
}

// seek moves to recording time at: forward by playing what lies
// between, back by playing from the start into a fresh emulator.
func (v *replayView) seek(at time.Duration) {
	restart, frames := v.p.Seek(at)
	if restart || v.t == nil {
		v.close()
		cols, rows := v.tl.Size()
		v.t = newTerm(cols, rows)
	}
	v.apply(frames)
	v.clock.Set(v.p.Position(), v.c.now())
}

// apply plays frames into the emulator, consecutive output in one
// write. Frames' data lie end to end in v.out, so a run of them is one
// slice of it, never copied.
func (v *replayView) apply(frames []recording.Frame) {
	from, to := int64(-1), int64(-1)
	for _, f := range frames {
		if !f.Resize() {
			if from < 0 || f.Offset != to {
				v.feedRange(from, to)
				from = f.Offset
			}
			to = f.Offset + int64(len(f.Data))
			continue
		}
		v.feedRange(from, to)
		from, to = -1, -1
		v.t.resize(f.Cols, f.Rows)
	}
	v.feedRange(from, to)
}

// feedRange feeds the output from offset from to offset to; from < 0:
// nothing.
func (v *replayView) feedRange(from, to int64) {
	if from >= 0 {
		v.feed(v.out[from:to])
	}
}

// feed writes output to the emulator, only its tail when it is long.
func (v *replayView) feed(b []byte) {
	if len(b) > replayMaxFeed {
		b = b[tailCut(b, replayTail, v.t.rows+2):]
	}
	if len(b) > 0 {
		v.t.write(b)
		v.fed += int64(len(b))
	}
}

// schedule asks for the next tick: when the next frame is due, or
// sooner to move the position shown. A paused or finished replay ticks
// no more.
func (v *replayView) schedule() tea.Cmd {
	v.gen++
	if !v.ready() || !v.clock.Playing() {
		return nil
	}
	now := v.c.now()
	wait := replayRefresh
	if next, ok := v.p.NextAt(); ok {
		if at, ok := v.clock.WallAt(next); ok {
			wait = min(wait, max(at.Sub(now), 0))
		}
	} else if v.p.Position() >= v.p.Duration() {
		return nil
	}
	gen := v.gen
	return tea.Tick(wait, func(time.Time) tea.Msg { return replayTickMsg{gen} })
}

// tick plays what is due.
func (v *replayView) tick(msg replayTickMsg) tea.Cmd {
	if !v.ready() || msg.gen != v.gen || !v.clock.Playing() {
		return nil
	}
	v.apply(v.p.Advance(v.clock.At(v.c.now())))
	if v.atEnd() {
		v.clock.SetPlaying(false, v.c.now())
	}
	return v.schedule()
}

// atEnd reports whether the replay has played everything.
func (v *replayView) atEnd() bool { return v.p.Done() && v.p.Position() >= v.p.Duration() }

// Update handles a key while the replay view is open.
func (v *replayView) Update(msg tea.KeyPressMsg) tea.Cmd {
	if v.find.typing {
		return v.findKey(msg)
	}
	switch msg.String() {
	case "esc", "q":
		return func() tea.Msg { return closeReplayMsg{} }
	}
	if !v.ready() {
		return nil
	}
	now := v.c.now()
	switch msg.String() {
	case "space":
		if v.atEnd() {
			v.seek(0) // play again
		}
		v.clock.SetPlaying(!v.clock.Playing(), now)
	case "+", "=":
		v.speed = min(v.speed+1, len(replaySpeeds)-1)
		v.clock.SetSpeed(replaySpeeds[v.speed], now)
	case "-", "_":
		v.speed = max(v.speed-1, 0)
		v.clock.SetSpeed(replaySpeeds[v.speed], now)
	case "i":
		v.catchUp()
		v.idle = (v.idle + 1) % len(replayIdles)
		v.rebuild(v.p.Offset())
	case "right", "]":
		v.catchUp()
		v.seek(v.p.Position() + replaySeekStep)
	case "left", "[":
		v.catchUp()
		v.seek(v.p.Position() - replaySeekStep)
	case "home", "g":
		if v.atEnd() {
			v.clock.SetPlaying(true, now) // from the start again
		}
		v.seek(0)
	case "end", "G":
		v.seek(v.p.Duration())
	case "/":
		v.find.typing, v.find.query = true, ""
	case "n":
		v.jump(1)
	case "N":
		v.jump(-1)
	}
	return v.schedule()
}

// catchUp plays what is due, so that a seek starts from where the user
// sees the replay.
func (v *replayView) catchUp() {
	if v.clock.Playing() {
		v.apply(v.p.Advance(v.clock.At(v.c.now())))
	}
}

// replayFind is the replay's search: a query, typed after /, and where
// it occurs in the output.
type replayFind struct {
	typing bool
	query  string
	hits   []int64 // offsets of the query in the output, in order
	at     int     // the hit last jumped to; -1: none yet
}

// findKey edits the query; enter searches and jumps to the first hit
// after the position.
func (v *replayView) findKey(msg tea.KeyPressMsg) tea.Cmd {
	f := &v.find
	switch msg.String() {
	case "esc":
		f.typing = false
	case "enter":
		f.typing = false
		f.hits, f.at = findAll(v.out, f.query), -1
		if v.ready() {
			v.jump(1)
		}
		return v.schedule()
	case "backspace":
		if r := []rune(f.query); len(r) > 0 {
			f.query = string(r[:len(r)-1])
		}
	default:
		if msg.Text != "" {
			f.query += msg.Text
		}
	}
	return nil
}

// jump seeks to the next (dir 1) or previous (-1) hit, wrapping, and
// pauses there so that it stays on screen.
func (v *replayView) jump(dir int) {
	f := &v.find
	if len(f.hits) == 0 {
		return
	}
	if f.at < 0 {
		// The first jump: the first hit not yet played, or the first.
		played := v.p.Offset()
		f.at = 0
		for i, h := range f.hits {
			if h >= played {
				f.at = i
				break
			}
		}
	} else {
		f.at = (f.at + dir + len(f.hits)) % len(f.hits)
	}
	end := f.hits[f.at] + int64(len(f.query)) - 1
	v.clock.SetPlaying(false, v.c.now())
	v.seek(v.p.SeekOffset(end))
}

// findAll lists where query occurs in data, ignoring ASCII case.
func findAll(data []byte, query string) []int64 {
	if query == "" {
		return nil
	}
	hay, q := bytes.ToLower(data), bytes.ToLower([]byte(query))
	var hits []int64
	for off := 0; ; {
		i := bytes.Index(hay[off:], q)
		if i < 0 {
			return hits
		}
		hits = append(hits, int64(off+i))
		off += i + len(q)
	}
}

// fmtClock renders a recording time as m:ss.s.
func fmtClock(d time.Duration) string {
	d = max(d, 0).Round(100 * time.Millisecond)
	return fmt.Sprintf("%d:%04.1f", int(d.Minutes()), (d % time.Minute).Seconds())
}
