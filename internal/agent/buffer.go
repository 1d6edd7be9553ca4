package agent

// span is the half-open range [from, to) of a command's output offsets.
type span struct{ from, to int64 }

// outBuffer is the part of one command's output the relay has not yet
// acknowledged: the bytes at offsets [start, end). Every byte keeps the
// offset it was produced at, counted from the command's first byte.
// Agent.mu guards it.
type outBuffer struct {
	chunks [][]byte // never aliased outside: readers copy out under the lock
	start  int64    // offset of the first byte held
	end    int64    // offset just past the last byte produced
	drops  []span   // bytes lost to overflow that no ack has passed yet
}

// Chunk capacities grow from small, so a command that prints one line
// does not pin a full read buffer, to the PTY read size.
const (
	minChunk = 1 << 10
	maxChunk = readSize
)

// size is the number of bytes held.
func (b *outBuffer) size() int64 { return b.end - b.start }

// append copies p to the end of the buffer.
func (b *outBuffer) append(p []byte) {
	if n := len(b.chunks); n > 0 {
		last := b.chunks[n-1]
		k := min(cap(last)-len(last), len(p))
		b.chunks[n-1] = append(last, p[:k]...)
		p = p[k:]
		b.end += int64(k)
	}
	if len(p) == 0 {
		return
	}
	c := make([]byte, len(p), max(len(p), b.nextChunkCap()))
	copy(c, p)
	b.chunks = append(b.chunks, c)
	b.end += int64(len(p))
}

func (b *outBuffer) nextChunkCap() int {
	if len(b.chunks) == 0 {
		return minChunk
	}
	return min(2*cap(b.chunks[len(b.chunks)-1]), maxChunk)
}

// ack discards the bytes before offset to, which the relay has stored,
// and returns how many were discarded.
func (b *outBuffer) ack(to int64) int64 {
	n := min(to, b.end) - b.start
	if n <= 0 {
		return 0
	}
	b.discard(n)
	kept := b.drops[:0]
	for _, s := range b.drops {
		if s.to > to {
			kept = append(kept, s)
		}
	}
	b.drops = kept
	return n
}

// dropOldest discards up to n of the oldest bytes, which the relay has
// not acknowledged, and remembers them as lost. It returns how many were
// dropped and whether that began a new lost range.
func (b *outBuffer) dropOldest(n int64) (dropped int64, newRange bool) {
	n = min(n, b.size())
	if n <= 0 {
		return 0, false
	}
	lost := span{b.start, b.start + n}
	if k := len(b.drops); k > 0 && b.drops[k-1].to == lost.from {
		b.drops[k-1].to = lost.to
	} else {
		b.drops = append(b.drops, lost)
		newRange = true
	}
	b.discard(n)
	return n, newRange
}

// discard removes the first n held bytes.
func (b *outBuffer) discard(n int64) {
	b.start += n
	for n > 0 {
		c := b.chunks[0]
		if int64(len(c)) > n {
			b.chunks[0] = c[n:]
			return
		}
		n -= int64(len(c))
		b.chunks[0] = nil
		b.chunks = b.chunks[1:]
	}
	if len(b.chunks) == 0 {
		b.chunks = nil // release the slice's backing array too
	}
}

// appendFrom appends to dst up to limit held bytes starting at offset
// from, which must lie in [start, end].
func (b *outBuffer) appendFrom(dst []byte, from int64, limit int) []byte {
	skip := from - b.start
	for _, c := range b.chunks {
		if limit <= 0 {
			break
		}
		if skip >= int64(len(c)) {
			skip -= int64(len(c))
			continue
		}
		c = c[skip:]
		skip = 0
		k := min(len(c), limit)
		dst = append(dst, c[:k]...)
		limit -= k
	}
	return dst
}

// lostIn returns the parts of [from, to) that were dropped.
func (b *outBuffer) lostIn(from, to int64) []span {
	var out []span
	for _, s := range b.drops {
		lo, hi := max(s.from, from), min(s.to, to)
		if lo < hi {
			out = append(out, span{lo, hi})
		}
	}
	return out
}
