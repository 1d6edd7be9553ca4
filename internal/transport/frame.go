package transport

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gorilla/websocket"

	"switchboard/internal/wire"
)

// errProtocol marks a frame that breaks RFC 6455: the connection is closed
// with 1002.
var errProtocol = errors.New("websocket protocol error")

// frameParser reassembles the messages a WebSocket client sends (RFC 6455
// §5) from bytes read off its socket in pieces of any size. It is what
// gorilla's reader does for the connections the read poller serves, which
// read the socket themselves; no extension is ever negotiated, so the RSV
// bits must be clear. Only one goroutine at a time may use it.
type frameParser struct {
	limit   int    // the largest message accepted
	partial []byte // unparsed bytes: the start of a frame not yet complete
	msg     []byte // the data frames of a fragmented message so far
	msgKind int    // that message's opcode; 0 when none is open
}

// feed parses data after what is left of earlier calls and hands each
// complete message, and each control frame, to deliver, in order, as a new
// slice deliver may keep. It stops early when deliver returns false; the
// rest stays for the next call (feed(nil, …) goes on from there). An error
// wraps errProtocol or wire.ErrTooLarge, and nothing more may be fed.
func (p *frameParser) feed(data []byte, deliver func(kind int, payload []byte) bool) (stopped bool, err error) {
	buf := data
	if len(p.partial) > 0 {
		p.partial = append(p.partial, data...)
		buf = p.partial
	}
	off := 0
	for {
		n, kind, payload, perr := p.next(buf[off:])
		if perr != nil {
			return false, perr
		}
		if n == 0 {
			break
		}
		off += n
		if payload != nil && !deliver(kind, payload) {
			stopped = true
			break
		}
	}
	p.keep(buf, off)
	return stopped, nil
}

// keep saves buf[off:] for the next call.
func (p *frameParser) keep(buf []byte, off int) {
	rest := buf[off:]
	switch {
	case len(rest) == 0 && cap(p.partial) > 64<<10:
		p.partial = nil // a large frame is done: an idle connection keeps no big buffer
	case len(rest) == 0:
		p.partial = p.partial[:0]
	case len(p.partial) > 0 && &buf[0] == &p.partial[0]:
		p.partial = p.partial[:copy(p.partial, rest)]
	default:
		p.partial = append(p.partial[:0], rest...)
	}
}

// next parses one frame at the start of b. It returns the bytes the frame
// took (0 if b holds no whole frame yet) and, when the frame completes a
// message or is a control frame, its kind and unmasked payload.
func (p *frameParser) next(b []byte) (n int, kind int, payload []byte, err error) {
	if len(b) < 2 {
		return 0, 0, nil, nil
	}
	fin, rsv, op := b[0]&0x80 != 0, b[0]&0x70, int(b[0]&0x0f)
	masked, size, hdr := b[1]&0x80 != 0, uint64(b[1]&0x7f), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return 0, 0, nil, nil
		}
		size, hdr = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, 0, nil, nil
		}
		size, hdr = binary.BigEndian.Uint64(b[2:]), 10
	}
	control := op >= websocket.CloseMessage
	switch {
	case rsv != 0:
		return 0, 0, nil, fmt.Errorf("%w: reserved bits set without an extension", errProtocol)
	case !masked:
		return 0, 0, nil, fmt.Errorf("%w: a client's frames must be masked", errProtocol)
	case op > websocket.PongMessage || (op > websocket.BinaryMessage && !control):
		return 0, 0, nil, fmt.Errorf("%w: unknown opcode %d", errProtocol, op)
	case control && (!fin || size > maxControlBody):
		return 0, 0, nil, fmt.Errorf("%w: control frame fragmented or over %d bytes", errProtocol, maxControlBody)
	case !control && op != 0 && p.msgKind != 0:
		return 0, 0, nil, fmt.Errorf("%w: a new message began before the last one ended", errProtocol)
	case op == 0 && p.msgKind == 0:
		return 0, 0, nil, fmt.Errorf("%w: continuation frame outside a message", errProtocol)
	case !control && size > uint64(p.limit-len(p.msg)):
		return 0, 0, nil, fmt.Errorf("%w: over %d bytes", wire.ErrTooLarge, p.limit)
	}
	hdr += 4
	if len(b) < hdr || uint64(len(b)-hdr) < size {
		return 0, 0, nil, nil
	}
	key := [4]byte(b[hdr-4 : hdr])
	body := b[hdr : hdr+int(size)]
	n = hdr + int(size)
	switch {
	case control || (fin && op != 0):
		payload = make([]byte, len(body))
		unmask(payload, body, key)
		return n, op, payload, nil
	case op != 0:
		p.msgKind = op
	}
	start := len(p.msg)
	p.msg = append(p.msg, body...)
	unmask(p.msg[start:], p.msg[start:], key)
	if !fin {
		return n, 0, nil, nil
	}
	payload, kind = p.msg, p.msgKind
	if payload == nil {
		payload = []byte{} // an empty message is still a message
	}
	p.msg, p.msgKind = nil, 0
	return n, kind, payload, nil
}

// unmask writes src XOR the masking key into dst (RFC 6455 §5.3), eight
// bytes at a time; dst and src may be the same slice.
func unmask(dst, src []byte, key [4]byte) {
	k4 := binary.LittleEndian.Uint32(key[:])
	k8 := uint64(k4)<<32 | uint64(k4)
	i := 0
	for ; i+8 <= len(src); i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], binary.LittleEndian.Uint64(src[i:])^k8)
	}
	for ; i < len(src); i++ {
		dst[i] = src[i] ^ key[i&3]
	}
}

// appendFrameHeader appends the header of an unmasked, unfragmented
// WebSocket frame (RFC 6455 §5.2) carrying n bytes. gorilla's message
// kinds are the frame opcodes.
func appendFrameHeader(b []byte, kind, n int) []byte {
	b = append(b, 0x80|byte(kind))
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xffff:
		return append(b, 126, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
}
