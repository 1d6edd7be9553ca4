package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	// Two to four times encoding/json's speed, with its behaviour
	// (decode_compat_test.go): decoding is most of what a dashboard
	// client does with 10,000 agents' events.
	json "github.com/segmentio/encoding/json"
)

// Decoding errors. Each is wrapped with detail; classify with errors.Is.
var (
	ErrBadMessage  = errors.New("malformed message")
	ErrUnknownType = errors.New("unknown message type")
	ErrTooLarge    = errors.New("message too large")
)

// Encode returns m as a JSON object whose "type" field names it.
func Encode(m Message) ([]byte, error) {
	typ := m.MessageType()
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	body = dropZeroTimes(body, zeroTimeKeys[typ])
	// Splice the type in front of the struct's own fields rather than
	// marshal a wrapper: one allocation and no reflection on a second type.
	out := make([]byte, 0, len(body)+len(typ)+11)
	out = append(out, `{"type":"`...)
	out = append(out, typ...)
	out = append(out, '"')
	if len(body) > 2 {
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

// MustEncode is Encode for messages that cannot fail to marshal (no
// channels or funcs in any wire type); it panics otherwise.
func MustEncode(m Message) []byte {
	b, err := Encode(m)
	if err != nil {
		panic(err)
	}
	return b
}

// Decode parses one JSON control message. Unknown fields are ignored so
// that newer peers can add them; a field of the wrong type is an error.
func Decode(data []byte) (Message, error) {
	if len(data) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxMessageSize)
	}
	if err := checkDepth(data); err != nil {
		return nil, err
	}
	typ, ok := leadingType(data)
	if !ok {
		var head struct {
			Type *string `json:"type"`
		}
		if err := json.Unmarshal(data, &head); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
		}
		if head.Type == nil {
			return nil, fmt.Errorf("%w: no \"type\" field", ErrBadMessage)
		}
		typ = *head.Type
	}
	mk, ok := newMessage[typ]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, typ)
	}
	m := mk()
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadMessage, typ, err)
	}
	return m, nil
}

// MaxDepth is how deeply a control message's objects and arrays may nest.
// No message needs more than four levels; the limit keeps a message nested
// a million deep from costing the decoder a third of a second.
const MaxDepth = 64

// checkDepth refuses data nested deeper than MaxDepth, looking only at
// brackets outside strings; whether the rest is valid JSON is the
// decoder's to say.
func checkDepth(data []byte) error {
	depth := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++ // the escaped character, a quote perhaps
				}
			}
		case '{', '[':
			if depth++; depth > MaxDepth {
				return fmt.Errorf("%w: nested deeper than %d levels", ErrBadMessage, MaxDepth)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// leadingType reads the type of a message that starts with it, as every
// message Encode writes does, sparing Decode a first full parse (a fifth
// of decoding an event). Anything else, including a "type" key anywhere
// else in the message, is left to the full parse; the second parse
// checks the whole message either way.
func leadingType(data []byte) (string, bool) {
	const prefix = `{"type":"`
	if !bytes.HasPrefix(data, []byte(prefix)) || bytes.Count(data, []byte(`"type"`)) != 1 {
		return "", false
	}
	rest := data[len(prefix):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return "", false
	}
	return string(rest[:end]), true
}

// ErrorCode maps a Decode error to the Error.Code to answer it with.
func ErrorCode(err error) string {
	switch {
	case errors.Is(err, ErrTooLarge):
		return CodeTooLarge
	case errors.Is(err, ErrUnknownType):
		return CodeUnknownType
	default:
		return CodeBadMessage
	}
}

// Binary frame kinds: the first byte of every binary WebSocket message.
const (
	FrameOutput byte = 1 // agent -> relay -> dashboard: command output at an offset
	FrameInput  byte = 2 // dashboard -> relay -> agent: bytes a person typed or pasted
	// FrameReply is a dashboard's terminal emulator answering a query in
	// a command's live output (DA, DSR, OSC 10/11, DECRQM, ...). The relay
	// forwards it, as an input frame, only from the command's controller:
	// the dashboard that last sent it input. Agents never see kind 3.
	FrameReply byte = 3
	// FrameTimed is an agent's output frame that also carries timing
	// records (timing.go): agent -> relay only, and only to a relay whose
	// welcome says timing. The relay passes its output on as kind 1.
	FrameTimed byte = 4
)

// Frame is a decoded binary message. Data aliases the buffer it was parsed
// from; copy it to keep it past that buffer's life.
type Frame struct {
	Kind      byte
	CommandID string
	Offset    int64  // output and timed frames only
	Timing    []byte // timed frames only: one timing section
	Data      []byte
}

// End is the offset just past this frame's data.
func (f Frame) End() int64 { return f.Offset + int64(len(f.Data)) }

// AppendOutputFrame appends an output frame to dst and returns it.
//
//	[1][len(id)][id...][offset: uint64 big-endian][data...]
func AppendOutputFrame(dst []byte, commandID string, offset int64, data []byte) []byte {
	dst = append(dst, FrameOutput, byte(len(commandID)))
	dst = append(dst, commandID...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(offset))
	return append(dst, data...)
}

// AppendTimedFrame appends a timed output frame to dst and returns it:
// an output frame with a timing section (AppendTimingSection) between
// the offset and the data.
//
//	[4][len(id)][id...][offset: uint64 big-endian][len(section): uvarint][section...][data...]
func AppendTimedFrame(dst []byte, commandID string, offset int64, section, data []byte) []byte {
	dst = append(dst, FrameTimed, byte(len(commandID)))
	dst = append(dst, commandID...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(offset))
	dst = binary.AppendUvarint(dst, uint64(len(section)))
	dst = append(dst, section...)
	return append(dst, data...)
}

// TimedToOutput turns raw, a timed frame that ParseFrame read as f, into
// the output frame of the same data, in place and without copying the
// data: the header moves over the timing section, which is lost (read
// f.Timing first). It returns the output frame, a suffix of raw.
func TimedToOutput(raw []byte, f Frame) []byte {
	head := 2 + len(f.CommandID) + 8
	start := len(raw) - len(f.Data) - head
	copy(raw[start:start+head], raw[:head])
	raw[start] = FrameOutput
	return raw[start:]
}

// AppendInputFrame appends an input frame to dst and returns it.
//
//	[2][len(id)][id...][data...]
func AppendInputFrame(dst []byte, commandID string, data []byte) []byte {
	dst = append(dst, FrameInput, byte(len(commandID)))
	dst = append(dst, commandID...)
	return append(dst, data...)
}

// AppendReplyFrame appends a reply frame to dst and returns it; its
// layout is an input frame's.
//
//	[3][len(id)][id...][data...]
func AppendReplyFrame(dst []byte, commandID string, data []byte) []byte {
	dst = append(dst, FrameReply, byte(len(commandID)))
	dst = append(dst, commandID...)
	return append(dst, data...)
}

// OutputFrame returns a new output frame.
func OutputFrame(commandID string, offset int64, data []byte) []byte {
	return AppendOutputFrame(make([]byte, 0, 10+len(commandID)+len(data)), commandID, offset, data)
}

// InputFrame returns a new input frame.
func InputFrame(commandID string, data []byte) []byte {
	return AppendInputFrame(make([]byte, 0, 2+len(commandID)+len(data)), commandID, data)
}

// ReplyFrame returns a new reply frame.
func ReplyFrame(commandID string, data []byte) []byte {
	return AppendReplyFrame(make([]byte, 0, 2+len(commandID)+len(data)), commandID, data)
}

// ParseFrame decodes a binary message.
func ParseFrame(b []byte) (Frame, error) {
	if len(b) > MaxMessageSize {
		return Frame{}, fmt.Errorf("%w: binary frame of %d bytes, limit %d", ErrTooLarge, len(b), MaxMessageSize)
	}
	if len(b) < 2 {
		return Frame{}, fmt.Errorf("%w: binary frame of %d bytes is shorter than its header", ErrBadMessage, len(b))
	}
	f := Frame{Kind: b[0]}
	idLen := int(b[1])
	if idLen == 0 || len(b) < 2+idLen {
		return Frame{}, fmt.Errorf("%w: binary frame command id length %d does not fit", ErrBadMessage, idLen)
	}
	f.CommandID = string(b[2 : 2+idLen])
	rest := b[2+idLen:]
	switch f.Kind {
	case FrameOutput:
		if len(rest) < 8 {
			return Frame{}, fmt.Errorf("%w: output frame has no offset", ErrBadMessage)
		}
		off := binary.BigEndian.Uint64(rest)
		if off > 1<<62 {
			return Frame{}, fmt.Errorf("%w: output frame offset %d out of range", ErrBadMessage, off)
		}
		f.Offset = int64(off)
		f.Data = rest[8:]
	case FrameTimed:
		if len(rest) < 8 {
			return Frame{}, fmt.Errorf("%w: timed frame has no offset", ErrBadMessage)
		}
		off := binary.BigEndian.Uint64(rest)
		if off > 1<<62 {
			return Frame{}, fmt.Errorf("%w: timed frame offset %d out of range", ErrBadMessage, off)
		}
		f.Offset = int64(off)
		n, k := binary.Uvarint(rest[8:])
		if k <= 0 || n > uint64(len(rest)-8-k) {
			return Frame{}, fmt.Errorf("%w: timed frame's timing length does not fit", ErrBadMessage)
		}
		f.Timing = rest[8+k : 8+k+int(n)]
		f.Data = rest[8+k+int(n):]
	case FrameInput, FrameReply:
		f.Data = rest
	default:
		return Frame{}, fmt.Errorf("%w: binary frame kind %d", ErrUnknownType, f.Kind)
	}
	return f, nil
}

// ValidID reports whether s can name a command in a binary frame: 1 to 255
// bytes of printable ASCII without spaces.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	return bytes.IndexFunc([]byte(s), func(r rune) bool { return r <= ' ' || r > '~' }) < 0
}
