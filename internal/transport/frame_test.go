package transport

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gorilla/websocket"

	"switchboard/internal/wire"
)

// clientFrame builds a masked frame as a client sends it (RFC 6455 §5.2):
// the server's header with the mask bit set, and the payload masked here
// byte by byte rather than with the parser's unmask.
func clientFrame(fin bool, op int, payload []byte, key [4]byte) []byte {
	f := appendFrameHeader(nil, op, len(payload))
	if !fin {
		f[0] &^= 0x80
	}
	f[1] |= 0x80
	f = append(f, key[:]...)
	for i, c := range payload {
		f = append(f, c^key[i%4])
	}
	return f
}

type parsed struct {
	kind int
	data []byte
}

// feedAll feeds stream in pieces cut at the given points and collects what
// the parser delivers.
func feedAll(t *testing.T, p *frameParser, stream []byte, cuts []int) ([]parsed, error) {
	t.Helper()
	var got []parsed
	deliver := func(kind int, data []byte) bool {
		got = append(got, parsed{kind, data})
		return true
	}
	last := 0
	for _, c := range append(cuts, len(stream)) {
		if _, err := p.feed(stream[last:c], deliver); err != nil {
			return got, err
		}
		last = c
	}
	return got, nil
}

// TestFrameParserReassemblesAnySplit sends messages of every length
// encoding, a fragmented message with a ping between its fragments, and
// empty messages, cut into pieces at random points and a byte at a time:
// the same messages come out, in order, unmasked.
func TestFrameParserReassemblesAnySplit(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	big := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80 kB: 64-bit length
	mid := bytes.Repeat([]byte{0xff, 0x00, 0x7f}, 100)    // 300 B: 16-bit length
	var stream []byte
	for _, f := range [][]byte{
		clientFrame(true, websocket.TextMessage, []byte(`{"type":"heartbeat"}`), key),
		clientFrame(true, websocket.BinaryMessage, mid, key),
		clientFrame(false, websocket.BinaryMessage, big[:1000], key),
		clientFrame(true, websocket.PingMessage, []byte("are you there"), key),
		clientFrame(false, 0, big[1000:70000], key),
		clientFrame(true, 0, big[70000:], key),
		clientFrame(true, websocket.TextMessage, nil, key),
		clientFrame(false, websocket.BinaryMessage, nil, key),
		clientFrame(true, 0, nil, key),
		clientFrame(true, websocket.CloseMessage, []byte{0x03, 0xe8, 'b', 'y', 'e'}, key),
	} {
		stream = append(stream, f...)
	}
	want := []parsed{
		{websocket.TextMessage, []byte(`{"type":"heartbeat"}`)},
		{websocket.BinaryMessage, mid},
		{websocket.PingMessage, []byte("are you there")},
		{websocket.BinaryMessage, big},
		{websocket.TextMessage, []byte{}},
		{websocket.BinaryMessage, []byte{}},
		{websocket.CloseMessage, []byte{0x03, 0xe8, 'b', 'y', 'e'}},
	}
	splits := map[string][]int{"whole": nil}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		var cuts []int
		for c := rng.IntN(300); c < len(stream); c += 1 + rng.IntN(9000) {
			cuts = append(cuts, c)
		}
		splits["random "+string(rune('a'+i))] = cuts
	}
	var bytewise []int
	for c := 1; c < 2000; c++ { // through the first frames and into the fragmented message
		bytewise = append(bytewise, c)
	}
	splits["byte by byte"] = bytewise
	for name, cuts := range splits {
		p := &frameParser{limit: wire.MaxMessageSize}
		got, err := feedAll(t, p, stream, cuts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d messages, want %d", name, len(got), len(want))
		}
		for i := range want {
			if got[i].kind != want[i].kind || !bytes.Equal(got[i].data, want[i].data) || got[i].data == nil {
				t.Fatalf("%s: message %d is kind %d, %d bytes; want kind %d, %d bytes", name, i, got[i].kind, len(got[i].data), want[i].kind, len(want[i].data))
			}
		}
		if len(p.partial) != 0 || p.msgKind != 0 {
			t.Fatalf("%s: parser holds %d bytes after the last frame", name, len(p.partial))
		}
	}
}

// TestFrameParserDeliversCopies: a handler may keep what it is given
// while the parser's input buffer is reused.
func TestFrameParserDeliversCopies(t *testing.T) {
	p := &frameParser{limit: wire.MaxMessageSize}
	buf := clientFrame(true, websocket.BinaryMessage, []byte("first"), [4]byte{1, 2, 3, 4})
	var kept []byte
	if _, err := p.feed(buf, func(_ int, data []byte) bool { kept = data; return true }); err != nil {
		t.Fatal(err)
	}
	clear(buf)
	if string(kept) != "first" {
		t.Fatalf("kept message changed to %q when the read buffer was reused", kept)
	}
}

// TestFrameParserPause: when the handler pauses, the rest waits, whole
// frames and partial, until the next feed.
func TestFrameParserPause(t *testing.T) {
	key := [4]byte{9, 8, 7, 6}
	one := clientFrame(true, websocket.TextMessage, []byte("hello"), key)
	two := clientFrame(true, websocket.BinaryMessage, []byte("output"), key)
	three := clientFrame(true, websocket.TextMessage, []byte("exited"), key)
	stream := append(append(append([]byte{}, one...), two...), three[:4]...)
	p := &frameParser{limit: 1 << 10}
	var got []string
	pauseAfterFirst := func(_ int, data []byte) bool {
		got = append(got, string(data))
		return len(got) > 1
	}
	stopped, err := p.feed(stream, pauseAfterFirst)
	if err != nil || !stopped || len(got) != 1 {
		t.Fatalf("first feed: stopped %v, err %v, got %q; want a pause after hello", stopped, err, got)
	}
	if _, err := p.feed(nil, pauseAfterFirst); err != nil || len(got) != 2 {
		t.Fatalf("resumed: err %v, got %q; want the buffered output", err, got)
	}
	if _, err := p.feed(three[4:], pauseAfterFirst); err != nil || len(got) != 3 || got[2] != "exited" {
		t.Fatalf("rest: err %v, got %q", err, got)
	}
}

// TestFrameParserRefuses: frames that break the protocol, and messages
// over the limit, whole or in fragments, are errors naming the cause.
func TestFrameParserRefuses(t *testing.T) {
	key := [4]byte{1, 1, 1, 1}
	unmasked := clientFrame(true, websocket.TextMessage, []byte("x"), key)
	unmasked[1] &^= 0x80
	unmasked = unmasked[:2+1] // header and payload, no key
	rsv := clientFrame(true, websocket.TextMessage, []byte("x"), key)
	rsv[0] |= 0x40
	cat := func(fs ...[]byte) []byte { return bytes.Join(fs, nil) }
	tests := []struct {
		name   string
		stream []byte
		want   error
	}{
		{"unmasked", unmasked, errProtocol},
		{"reserved bit", rsv, errProtocol},
		{"unknown opcode", clientFrame(true, 3, nil, key), errProtocol},
		{"unknown control opcode", clientFrame(true, 11, nil, key), errProtocol},
		{"fragmented ping", clientFrame(false, websocket.PingMessage, nil, key), errProtocol},
		{"long ping", clientFrame(true, websocket.PingMessage, make([]byte, 126), key), errProtocol},
		{"continuation first", clientFrame(true, 0, []byte("x"), key), errProtocol},
		{"message inside message", cat(clientFrame(false, websocket.TextMessage, []byte("a"), key),
			clientFrame(true, websocket.TextMessage, []byte("b"), key)), errProtocol},
		{"over the limit", clientFrame(true, websocket.BinaryMessage, make([]byte, 101), key), wire.ErrTooLarge},
		{"over the limit in fragments", cat(clientFrame(false, websocket.BinaryMessage, make([]byte, 60), key),
			clientFrame(true, 0, make([]byte, 41), key)), wire.ErrTooLarge},
		{"length beyond int64", append([]byte{0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, key[:]...), wire.ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &frameParser{limit: 100}
			_, err := feedAll(t, p, tc.stream, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// Exactly the limit is accepted.
	p := &frameParser{limit: 100}
	got, err := feedAll(t, p, clientFrame(true, websocket.BinaryMessage, make([]byte, 100), key), nil)
	if err != nil || len(got) != 1 {
		t.Fatalf("a message of exactly the limit: %v, %d messages", err, len(got))
	}
}

// FuzzFrameParser: arbitrary bytes never crash the parser, and whatever
// it accepts whole it accepts the same cut in two.
func FuzzFrameParser(f *testing.F) {
	key := [4]byte{0xde, 0xad, 0xbe, 0xef}
	f.Add(clientFrame(true, websocket.TextMessage, []byte(`{"type":"heartbeat"}`), key), 3)
	f.Add(append(clientFrame(false, websocket.BinaryMessage, []byte("ab"), key), clientFrame(true, 0, []byte("cd"), key)...), 7)
	f.Add([]byte{0x81, 0xfe, 0x00}, 1)
	f.Fuzz(func(t *testing.T, stream []byte, cut int) {
		whole, werr := feedAll(t, &frameParser{limit: 1 << 12}, stream, nil)
		cut = min(max(cut, 0), len(stream))
		split, serr := feedAll(t, &frameParser{limit: 1 << 12}, stream, []int{cut})
		if (werr == nil) != (serr == nil) {
			t.Fatalf("whole: %v; cut at %d: %v", werr, cut, serr)
		}
		if werr == nil && serr == nil {
			if len(whole) != len(split) {
				t.Fatalf("whole gave %d messages, cut at %d gave %d", len(whole), cut, len(split))
			}
			for i := range whole {
				if whole[i].kind != split[i].kind || !bytes.Equal(whole[i].data, split[i].data) {
					t.Fatalf("message %d differs when cut at %d", i, cut)
				}
			}
		}
	})
}

// BenchmarkFrameParser is the read poller's parsing of what one read
// returns: 256 KiB of client frames (masked), as S1 (100 B) and S2
// (64 KiB) send them, a frame cut at the end of each read.
func BenchmarkFrameParser(b *testing.B) {
	for _, size := range []int{100, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			frame := clientFrame(true, websocket.BinaryMessage, bytes.Repeat([]byte{7}, size), [4]byte{1, 2, 3, 4})
			var stream []byte
			for len(stream) < 4<<20 {
				stream = append(stream, frame...)
			}
			p := &frameParser{limit: wire.MaxMessageSize}
			deliver := func(int, []byte) bool { return true }
			b.SetBytes(int64(size))
			b.ReportAllocs()
			off, fed := 0, 0
			for b.Loop() {
				// One operation is one frame's worth of bytes fed.
				for fed < size {
					n := min(256<<10, len(stream)-off)
					if _, err := p.feed(stream[off:off+n], deliver); err != nil {
						b.Fatal(err)
					}
					off, fed = (off+n)%len(stream), fed+n
					if off+len(frame) > len(stream) {
						off = 0 // restart at a frame boundary
						p.partial = p.partial[:0]
					}
				}
				fed -= size
			}
		})
	}
}
