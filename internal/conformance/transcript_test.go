package conformance

import (
	stdjson "encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// TestTranscript plays the page's "A session, message by message" against
// a real relay: two raw WebSocket peers, the agent (A) and the dashboard
// (D), send each → line as written and wait for a message matching each ←
// line, skipping the others.
func TestTranscript(t *testing.T) {
	blocks := codeBlocks(page(t), "transcript")
	if len(blocks) != 1 {
		t.Fatalf("the page has %d transcripts, want 1", len(blocks))
	}
	r := relaytest.Start(t, relay.Config{})
	p := &player{t: t, url: r.URL(), peers: map[string]*peer{}, captured: map[string]string{}}
	for i, line := range strings.Split(strings.TrimSpace(blocks[0]), "\n") {
		p.step(i+1, line)
	}
}

// player plays a transcript. captured maps a pattern such as "c-…" to the
// value it first matched, which later lines use in its place.
type player struct {
	t        *testing.T
	url      string
	peers    map[string]*peer
	captured map[string]string
}

type peer struct {
	ws   *websocket.Conn
	seen []string // what was skipped while waiting, for the failure message
}

func (p *player) peer(who string) *peer {
	if pe := p.peers[who]; pe != nil {
		return pe
	}
	path := map[string]string{"A": wire.AgentPath, "D": wire.DashboardPath}[who]
	ws, _, err := websocket.DefaultDialer.Dial(p.url+path, nil)
	if err != nil {
		p.t.Fatalf("dial %s: %v", path, err)
	}
	p.t.Cleanup(func() { ws.Close() })
	pe := &peer{ws: ws}
	p.peers[who] = pe
	return pe
}

func (p *player) step(n int, line string) {
	p.t.Helper()
	who, arrow, rest := line[:1], line[1:strings.Index(line, " ")], strings.TrimSpace(line[strings.Index(line, " "):])
	pe := p.peer(who)
	switch arrow {
	case "→":
		p.send(n, pe, rest)
	case "←":
		p.expect(n, pe, rest)
	default:
		p.t.Fatalf("line %d: %q is neither → nor ←", n, line)
	}
}

func (p *player) send(n int, pe *peer, rest string) {
	p.t.Helper()
	var err error
	switch {
	case strings.HasPrefix(rest, "{"):
		var v any
		if err := stdjson.Unmarshal([]byte(rest), &v); err != nil {
			p.t.Fatalf("line %d: %v", n, err)
		}
		b, _ := stdjson.Marshal(p.substitute(v))
		err = pe.ws.WriteMessage(websocket.TextMessage, b)
	default:
		kind, id, off, data := p.frame(n, rest)
		frame := wire.InputFrame(id, data)
		if kind == "output" {
			frame = wire.OutputFrame(id, off, data)
		}
		err = pe.ws.WriteMessage(websocket.BinaryMessage, frame)
	}
	if err != nil {
		p.t.Fatalf("line %d: send: %v", n, err)
	}
}

// frame parses `output ID OFFSET "TEXT"` or `input ID "TEXT"`.
func (p *player) frame(n int, rest string) (kind, id string, offset int64, data []byte) {
	p.t.Helper()
	fields := strings.SplitN(rest, " ", 3)
	kind, id = fields[0], p.substituteString(fields[1])
	text := fields[2]
	if kind == "output" {
		off, more, _ := strings.Cut(text, " ")
		v, err := strconv.ParseInt(off, 10, 64)
		if err != nil {
			p.t.Fatalf("line %d: offset %q: %v", n, off, err)
		}
		offset, text = v, more
	}
	var s string
	if err := stdjson.Unmarshal([]byte(text), &s); err != nil {
		p.t.Fatalf("line %d: text %s: %v", n, text, err)
	}
	return kind, id, offset, []byte(s)
}

func (p *player) expect(n int, pe *peer, rest string) {
	p.t.Helper()
	pe.seen = pe.seen[:0]
	deadline := time.Now().Add(15 * time.Second)
	for {
		_ = pe.ws.SetReadDeadline(deadline)
		kind, data, err := pe.ws.ReadMessage()
		if err != nil {
			p.t.Fatalf("line %d: waiting for %s: %v; skipped %d: %s", n, rest, err, len(pe.seen), strings.Join(pe.seen, "\n"))
		}
		if kind == websocket.BinaryMessage {
			if !strings.HasPrefix(rest, "{") && p.frameMatches(n, rest, data) {
				return
			}
			pe.seen = append(pe.seen, fmt.Sprintf("frame % x", data))
			continue
		}
		if strings.HasPrefix(rest, "{") {
			var want, got any
			if err := stdjson.Unmarshal([]byte(rest), &want); err != nil {
				p.t.Fatalf("line %d: %v", n, err)
			}
			_ = stdjson.Unmarshal(data, &got)
			if caps := p.match(want, got, map[string]string{}); caps != nil {
				for k, v := range caps {
					p.captured[k] = v
				}
				return
			}
		}
		pe.seen = append(pe.seen, string(data))
	}
}

func (p *player) frameMatches(n int, rest string, data []byte) bool {
	kind, id, off, want := p.frame(n, rest)
	f, err := wire.ParseFrame(data)
	if err != nil {
		return false
	}
	wantKind := map[string]byte{"output": wire.FrameOutput, "input": wire.FrameInput}[kind]
	return f.Kind == wantKind && f.CommandID == id && f.Offset == off && string(f.Data) == string(want)
}

// match reports whether got has every field of want, alike, and returns
// the patterns it captured (nil when it does not match). A string "…"
// matches any text; one ending in "…" matches text it starts (and is
// captured); lists match when each wanted element matches one of got's.
func (p *player) match(want, got any, caps map[string]string) map[string]string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return nil
		}
		for k, wv := range w {
			if caps = p.match(wv, g[k], caps); caps == nil {
				return nil
			}
		}
		return caps
	case []any:
		g, ok := got.([]any)
		if !ok {
			return nil
		}
		for _, wv := range w {
			found := false
			for _, gv := range g {
				if c := p.match(wv, gv, copyMap(caps)); c != nil {
					caps, found = c, true
					break
				}
			}
			if !found {
				return nil
			}
		}
		return caps
	case string:
		g, ok := got.(string)
		switch {
		case !ok:
			return nil
		case w == "…":
			return caps
		case strings.HasSuffix(w, "…"):
			if v, seen := p.captured[w]; seen {
				w = v
				break
			}
			if v, seen := caps[w]; seen {
				w = v
				break
			}
			if !strings.HasPrefix(g, strings.TrimSuffix(w, "…")) {
				return nil
			}
			caps[w] = g
			return caps
		}
		if g != w {
			return nil
		}
		return caps
	default:
		if !reflect.DeepEqual(want, got) {
			return nil
		}
		return caps
	}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// substitute puts captured values in place of their patterns.
func (p *player) substitute(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = p.substitute(e)
		}
	case []any:
		for i, e := range x {
			x[i] = p.substitute(e)
		}
	case string:
		return p.substituteString(x)
	}
	return v
}

func (p *player) substituteString(s string) string {
	if v, ok := p.captured[s]; ok {
		return v
	}
	return s
}
