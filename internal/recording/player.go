package recording

import (
	"sort"
	"time"
)

// Frame is one step of a replay: output produced at one time, or a
// resize of the terminal (Data nil).
type Frame struct {
	At         time.Duration // recording time
	Offset     int64         // output offset of Data's first byte, or of the output after a resize
	Data       []byte
	Cols, Rows int // a resize's size
}

// Resize reports whether the frame is a resize.
func (f Frame) Resize() bool { return f.Data == nil }

// Frames cuts output (the command's bytes from offset 0, or as much of it
// as there is) into frames at the timeline's events, in order; times
// never go down. The frames share output's memory.
func (tl *Timeline) Frames(output []byte) []Frame {
	end := int64(len(output))
	var fs []Frame
	var pos int64
	var at time.Duration
	mi, ri := 0, 0
	for {
		// Events at pos: resizes come before the byte at their offset.
		for ; ri < len(tl.resizes) && (tl.resizes[ri].Offset <= pos || pos == end); ri++ {
			r := tl.resizes[ri]
			at = max(at, ms(r.MS))
			fs = append(fs, Frame{At: at, Offset: pos, Cols: r.Cols, Rows: r.Rows})
		}
		for ; mi < len(tl.marks) && tl.marks[mi].off <= pos; mi++ {
			at = max(at, ms(tl.marks[mi].ms))
		}
		if pos == end {
			return fs
		}
		next := end
		if mi < len(tl.marks) {
			next = min(next, tl.marks[mi].off)
		}
		if ri < len(tl.resizes) {
			next = min(next, max(tl.resizes[ri].Offset, pos))
		}
		fs = append(fs, Frame{At: at, Offset: pos, Data: output[pos:next]})
		pos = next
	}
}

// Player steps through a recording's frames by recording time: what is
// due by a time, and where a seek lands. It keeps no clock of its own
// (Clock turns wall time into recording time) and is not safe for
// concurrent use.
type Player struct {
	frames   []Frame
	output   []byte
	next     int           // the first frame not yet played
	pos      time.Duration // the recording time played up to
	duration time.Duration
}

// NewPlayer plays output over tl (already cut to an idle limit, if any).
func NewPlayer(tl *Timeline, output []byte) *Player {
	p := &Player{frames: tl.Frames(output), output: output, duration: tl.Duration()}
	if n := len(p.frames); n > 0 {
		p.duration = max(p.duration, p.frames[n-1].At)
	}
	return p
}

// Duration is the recording's length: the time of its last event.
func (p *Player) Duration() time.Duration { return p.duration }

// Position is the recording time played up to.
func (p *Player) Position() time.Duration { return p.pos }

// Done reports whether every frame has been played.
func (p *Player) Done() bool { return p.next == len(p.frames) }

// Offset is the output offset played up to.
func (p *Player) Offset() int64 {
	if p.next == 0 {
		return 0
	}
	f := p.frames[p.next-1]
	return f.Offset + int64(len(f.Data))
}

// Played is the output played so far.
func (p *Player) Played() []byte { return p.output[:p.Offset()] }

// NextAt is the recording time of the next frame, and false when none is
// left.
func (p *Player) NextAt() (time.Duration, bool) {
	if p.Done() {
		return 0, false
	}
	return p.frames[p.next].At, true
}

// Advance plays up to recording time t (no further than the end) and
// returns the frames due by it, in order; t before the position returns
// nothing (going back is Seek's).
func (p *Player) Advance(t time.Duration) []Frame {
	t = min(t, p.duration)
	if t < p.pos {
		return nil
	}
	i := p.next + sort.Search(len(p.frames)-p.next, func(i int) bool { return p.frames[p.next+i].At > t })
	due := p.frames[p.next:i]
	p.next, p.pos = i, t
	return due
}

// Seek moves to recording time t (clamped to the recording). Going
// forward it returns the frames between, as Advance; going back it
// returns restart true and every frame from the start up to t: the
// caller starts its terminal afresh and applies them.
func (p *Player) Seek(t time.Duration) (restart bool, frames []Frame) {
	t = min(max(t, 0), p.duration)
	if t >= p.pos {
		return false, p.Advance(t)
	}
	p.next, p.pos = 0, 0
	return true, p.Advance(t)
}

// SeekOffset is the recording time at which the output byte at off was
// played: where to seek to show it.
func (p *Player) SeekOffset(off int64) time.Duration {
	i := sort.Search(len(p.frames), func(i int) bool {
		f := p.frames[i]
		return f.Offset+int64(len(f.Data)) > off // a resize: its offset
	})
	if i == len(p.frames) {
		return p.duration
	}
	return p.frames[i].At
}

// Clock turns wall time into recording time at a speed, and pauses.
type Clock struct {
	speed   float64
	playing bool
	wall    time.Time     // when pos was the recording time
	pos     time.Duration // recording time at wall
}

// NewClock starts a clock at recording time 0, playing at speed from
// wall time now.
func NewClock(speed float64, now time.Time) *Clock {
	return &Clock{speed: speed, playing: true, wall: now}
}

// At is the recording time at wall time now.
func (c *Clock) At(now time.Time) time.Duration {
	if !c.playing {
		return c.pos
	}
	return c.pos + time.Duration(float64(now.Sub(c.wall))*c.speed)
}

// WallAt is the wall time at which recording time t is reached; while
// paused, it is never.
func (c *Clock) WallAt(t time.Duration) (time.Time, bool) {
	if !c.playing {
		return time.Time{}, false
	}
	return c.wall.Add(time.Duration(float64(t-c.pos) / c.speed)), true
}

// Speed is the clock's speed.
func (c *Clock) Speed() float64 { return c.speed }

// Playing reports whether the clock runs.
func (c *Clock) Playing() bool { return c.playing }

// SetSpeed changes the speed from now on.
func (c *Clock) SetSpeed(speed float64, now time.Time) {
	c.pos, c.wall, c.speed = c.At(now), now, speed
}

// SetPlaying pauses or resumes the clock at now.
func (c *Clock) SetPlaying(playing bool, now time.Time) {
	c.pos, c.wall, c.playing = c.At(now), now, playing
}

// Set makes the recording time at now t: a seek.
func (c *Clock) Set(t time.Duration, now time.Time) { c.pos, c.wall = t, now }
