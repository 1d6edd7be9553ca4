package bench

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"
)

// patternLen is the period of the byte pattern streams carry: a prime, so
// that frame and chunk boundaries never line up with it.
const patternLen = 65521

// pattern is printable ASCII without newlines, so a terminal passes it
// through unchanged (no \n to \r\n translation).
var pattern = func() []byte {
	p := make([]byte, patternLen)
	x := uint32(2463534242)
	for i := range p {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		p[i] = ' ' + byte(x%95)
	}
	return p
}()

// fillPattern writes the pattern bytes at offsets [off, off+len(dst)).
func fillPattern(dst []byte, off int64) {
	for len(dst) > 0 {
		i := int(off % patternLen)
		n := copy(dst, pattern[i:])
		dst, off = dst[n:], off+int64(n)
	}
}

// matchesPattern reports whether data is the pattern at offset off.
func matchesPattern(off int64, data []byte) bool {
	for len(data) > 0 {
		i := int(off % patternLen)
		n := min(len(data), patternLen-i)
		if !bytes.Equal(data[:n], pattern[i:i+n]) {
			return false
		}
		data, off = data[n:], off+int64(n)
	}
	return true
}

// streamCheck verifies one output stream as a dashboard receives it.
type streamCheck interface {
	feed(off int64, data []byte, now int64)
	result() streamResult
}

// streamResult is what a stream check found.
type streamResult struct {
	received int64 // offset just past the last byte received
	missing  int64 // bytes skipped over (offset jumps forward)
	repeated int64 // bytes received twice (offset went back)
	corrupt  int64 // frames or messages whose content was wrong
}

func (r streamResult) problems(id string, want int64) []string {
	var out []string
	if r.missing > 0 || r.received < want {
		out = append(out, fmt.Sprintf("stream %s: %d bytes missing, received up to %d of %d", id, r.missing+max(0, want-r.received), r.received, want))
	}
	if r.repeated > 0 {
		out = append(out, fmt.Sprintf("stream %s: %d bytes delivered twice", id, r.repeated))
	}
	if r.corrupt > 0 {
		out = append(out, fmt.Sprintf("stream %s: %d pieces with wrong content", id, r.corrupt))
	}
	if r.received > want {
		out = append(out, fmt.Sprintf("stream %s: %d bytes received, only %d sent", id, r.received, want))
	}
	return out
}

// patternCheck verifies a stream of pattern bytes and notes when its last
// byte arrived.
type patternCheck struct {
	res  streamResult
	last int64 // unix ns of the last feed
}

func (c *patternCheck) feed(off int64, data []byte, now int64) {
	c.last = now
	switch {
	case off > c.res.received:
		c.res.missing += off - c.res.received
	case off < c.res.received:
		dup := min(c.res.received-off, int64(len(data)))
		c.res.repeated += dup
		data, off = data[dup:], off+dup
	}
	if !matchesPattern(off, data) {
		c.res.corrupt++
	}
	c.res.received = off + int64(len(data))
}

func (c *patternCheck) result() streamResult { return c.res }

// Message layout of the fan-out scenario: the send time, the message's
// sequence number in its stream, then filler derived from the sequence.
const (
	msgTimeAt = 0
	msgSeqAt  = 8
	msgHead   = 16
)

// fillMessage writes message seq, sent at sentNS, into m.
func fillMessage(m []byte, seq uint64, sentNS int64) {
	binary.BigEndian.PutUint64(m[msgTimeAt:], uint64(sentNS))
	binary.BigEndian.PutUint64(m[msgSeqAt:], seq)
	for j := msgHead; j < len(m); j++ {
		m[j] = byte(seq*7 + uint64(j))
	}
}

// messageCheck verifies a stream of fixed-size messages and samples the
// latency of each from its send time, for messages sent at or after since.
type messageCheck struct {
	res   streamResult
	size  int
	part  []byte // the message being reassembled
	since int64
	lat   *[]int64 // shared by the dashboard's streams; its consumer alone appends
}

func newMessageCheck(size int, since int64, lat *[]int64) *messageCheck {
	return &messageCheck{size: size, part: make([]byte, 0, size), since: since, lat: lat}
}

func (c *messageCheck) feed(off int64, data []byte, now int64) {
	if off != c.res.received {
		if off < c.res.received {
			dup := min(c.res.received-off, int64(len(data)))
			c.res.repeated += dup
			data, off = data[dup:], off+dup
		} else {
			c.res.missing += off - c.res.received
			c.part = c.part[:0]
			skip := min(int64(len(data)), (int64(c.size)-off%int64(c.size))%int64(c.size))
			data, off = data[skip:], off+skip
		}
	}
	c.res.received = off + int64(len(data))
	for len(data) > 0 {
		n := min(len(data), c.size-len(c.part))
		c.part = append(c.part, data[:n]...)
		data = data[n:]
		if len(c.part) == c.size {
			c.check(off+int64(n)-int64(c.size), now)
			off += int64(n)
			c.part = c.part[:0]
		} else {
			off += int64(n)
		}
	}
}

func (c *messageCheck) check(start, now int64) {
	m := c.part
	seq := binary.BigEndian.Uint64(m[msgSeqAt:])
	ok := seq == uint64(start/int64(c.size))
	for j := msgHead; ok && j < len(m); j++ {
		ok = m[j] == byte(seq*7+uint64(j))
	}
	if !ok {
		c.res.corrupt++
		return
	}
	if sent := int64(binary.BigEndian.Uint64(m[msgTimeAt:])); sent >= c.since {
		*c.lat = append(*c.lat, now-sent)
	}
}

func (c *messageCheck) result() streamResult { return c.res }

// latency summarizes samples in nanoseconds.
type latency struct {
	n             int
	p50, p99, max time.Duration
}

func summarize(samples []int64) latency {
	if len(samples) == 0 {
		return latency{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	at := func(q float64) time.Duration { return time.Duration(quantile(s, q)) }
	return latency{n: len(s), p50: at(0.50), p99: at(0.99), max: time.Duration(s[len(s)-1])}
}

// quantile is the q quantile (0 ≤ q < 1) of sorted, which is not empty.
func quantile[T cmp.Ordered](sorted []T, q float64) T {
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func (l latency) String() string {
	return fmt.Sprintf("p50 %s, p99 %s, max %s (n=%d)", fmtDur(l.p50), fmtDur(l.p99), fmtDur(l.max), l.n)
}

// fmtDur prints a duration with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.3g ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.3g s", d.Seconds())
	}
}
