package store

import "switchboard/internal/wire"

// Span gathers contiguous output from a command's stored chunks fed to it
// in offset order; it is how a store implements ReadOutput's contract
// (bytes from an offset, stopping at a gap unless the gap is at the
// offset itself) over rows cut however the agent sent them.
type Span struct {
	start, end int64 // the offsets of buf's first byte and of the byte after it
	buf        []byte
	limit      int
}

// NewSpan starts an empty span at offset from that takes at most limit bytes.
func NewSpan(from int64, limit int) *Span {
	return &Span{start: from, end: from, limit: limit}
}

// Add appends what chunk (off, data) has past the span's end and reports
// whether to feed it more. Bytes it already has are skipped, so a chunk
// before from, or one overlapping a neighbour, costs nothing but the read.
// data is copied: it may be reused once Add returns.
func (s *Span) Add(off int64, data []byte) bool {
	if len(s.buf) == 0 && off > s.end {
		s.start, s.end = off, off // nothing stored at from: begin past the gap
	}
	if off > s.end {
		return false // a gap: the caller reads again from its far side
	}
	if skip := s.end - off; skip < int64(len(data)) {
		data = data[skip:]
		if s.buf == nil {
			// Replays read a frame's worth at a time: room for that spares
			// the copies of growing the buffer chunk by chunk.
			s.buf = make([]byte, 0, min(s.limit, wire.MaxChunk))
		}
		n := min(len(data), s.limit-len(s.buf))
		s.buf = append(s.buf, data[:n]...)
		s.end += int64(n)
	}
	return len(s.buf) < s.limit
}

// Bytes returns the gathered output and the offset of its first byte.
func (s *Span) Bytes() ([]byte, int64) { return s.buf, s.start }
