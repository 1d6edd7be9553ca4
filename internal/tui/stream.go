package tui

import (
	"time"
)

// retainBytes is how much of a command's latest output a stream keeps for
// panes opened on it later; more than a pane's scrollback ever shows.
const retainBytes = 1 << 20

// stream is one command's output as this dashboard receives it: the latest
// retainBytes bytes with their offsets, plus what the attention rules need.
// Every running command has one (so the agent list can say which is
// waiting), and so does every command shown in a pane.
type stream struct {
	id    string
	buf   []byte // output bytes [start, next)
	start int64
	next  int64
	// liveFrom is where the command's output stood when the subscription
	// began: bytes before it are replayed history, not a sign of life.
	liveFrom int64
	ended    bool // output.end arrived: every byte is here
}

func newStream(id string, from, liveFrom int64, now time.Time) *stream {
	return &stream{id: id, start: from, next: from, liveFrom: liveFrom}
}

// add appends output that starts at off. Bytes already held are ignored;
// a gap (bytes the agent lost) restarts the buffer at off.
func (s *stream) add(off int64, data []byte, now time.Time) {
	end := off + int64(len(data))
	if end <= s.next {
		return
	}
	if off < s.next {
		data = data[s.next-off:]
		off = s.next
	}
	if off > s.next {
		s.buf, s.start = s.buf[:0], off
	}
	s.buf = append(s.buf, data...)
	s.next = end
	if len(s.buf) > retainBytes+retainBytes/2 {
		cut := len(s.buf) - retainBytes
		s.buf = append(s.buf[:0], s.buf[cut:]...)
		s.start += int64(cut)
	}
}

// from returns the bytes held from offset off on, and the offset they
// actually start at (later than off when older bytes are gone).
func (s *stream) from(off int64) ([]byte, int64) {
	off = max(off, s.start)
	if off >= s.next {
		return nil, s.next
	}
	return s.buf[off-s.start:], off
}
