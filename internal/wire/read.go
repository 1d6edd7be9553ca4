package wire

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sync"
)

// readBufs are scratch buffers messages are read into before being copied
// out at their exact size: reading into a buffer grown for each message
// cost more than the rest of the output path together.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// ReadAll reads a whole message of at most limit bytes from r (a
// WebSocket message reader) into a new slice of exactly its size. A longer
// message is an error wrapping ErrTooLarge.
func ReadAll(r io.Reader, limit int) ([]byte, error) {
	bp := readBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		*bp = buf[:0]
		readBufs.Put(bp)
	}()
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(len(buf), limit+1-len(buf)))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit)
		}
		if err == io.EOF {
			return bytes.Clone(buf), nil
		}
		if err != nil {
			return nil, err
		}
	}
}
