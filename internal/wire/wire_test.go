package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	code := 3
	at := time.Date(2026, 11, 26, 5, 0, 0, 123000000, time.UTC)
	cmd := Command{ID: "c-1", AgentID: "a-1", AgentName: "build", State: StateExited, ExitCode: &code,
		CommandSpec: CommandSpec{Argv: []string{"make", "test"}, Env: map[string]string{"CI": "1"}, Cols: 120, Rows: 40, TimeoutMS: 5000},
		CreatedAt:   at, StartedAt: at, EndedAt: at.Add(time.Second), DurationMS: 1000, OutputBytes: 42,
		Attention: AttentionWaiting, AttentionReason: "Continue? [y/N]", AttentionSince: at, Title: "build"}
	msgs := []Message{
		&Hello{Protocol: 1, Client: "t", Agent: &AgentInfo{ID: "a-1", Name: "n", Labels: map[string]string{"k": "v"}, MaxConcurrent: 2},
			Holding: []HeldCommand{{CommandID: "c-1", Offset: 10, Exited: true}}},
		&Welcome{Protocol: 1, Relay: "x", HeartbeatMS: 5000, Resume: []Ack{{CommandID: "c-1", Offset: 4}}},
		&Snapshot{Seq: 9, Agents: []Agent{{AgentInfo: AgentInfo{ID: "a"}, Status: AgentBusy, Running: 1, LastSeen: at}}, Commands: []Command{cmd}, Partial: true},
		&AgentEvent{Seq: 1, Agent: Agent{AgentInfo: AgentInfo{ID: "a"}, Status: AgentBusy,
			Attention: AttentionWaiting, AttentionReason: "Name?", AttentionCommand: "c-1", AttentionSince: at}},
		&CommandEvent{Seq: 2, Command: cmd},
		&Run{RequestID: "r", Targets: Targets{Agents: []string{"a"}, Labels: map[string]string{"x": "y"}}, CommandSpec: CommandSpec{Shell: "ls"}},
		&RunAccepted{RequestID: "r", Commands: []Command{cmd}},
		&Subscribe{CommandID: "c", Offset: 7}, &Unsubscribe{CommandID: "c"}, &OutputEnd{CommandID: "c", Offset: 8},
		&Subscribed{CommandID: "c", Offset: 7},
		&Resize{CommandID: "c", Cols: 1, Rows: 2}, &Cancel{CommandID: "c"},
		&HistoryQuery{Agent: "a", Limit: 3}, &HistoryResult{Commands: []Command{cmd}},
		&Error{Code: CodeNotFound, Message: "m"}, &Start{Command: cmd}, &Started{CommandID: "c", PID: 4, StartedAt: at},
		&Exited{CommandID: "c", State: StateExited, ExitCode: &code, Offset: 9, EndedAt: at, DurationMS: 3},
		&SessionOpened{Command: cmd}, &Ack{CommandID: "c", Offset: 1, Done: true},
		&OutputDropped{CommandID: "c", From: 1, To: 2}, &Heartbeat{Running: 3},
		&AuditQuery{Limit: 2}, &AuditResult{Entries: []AuditEntry{{At: at, Token: "t", Action: "run", Result: "ok"}}},
		&SignInQuery{RequestID: "s"}, &SignInResult{RequestID: "s", Code: "sbc_x", ExpiresAt: at},
		&RestartSession{RequestID: "r", Agent: "claude-box"},
		&AttentionReport{CommandID: "c", State: AttentionQuiet, Reason: "r", Title: "t", AgeMS: 5000},
		&QuickReply{RequestID: "r", Agent: "a", Text: "y\r"}, &QuickReplySent{RequestID: "r", CommandID: "c"},
		&AgentForget{RequestID: "f", Agent: "build-1"}, &AgentForgetResult{RequestID: "f", AgentID: "a-1"},
		&AgentRemoved{Seq: 3, AgentID: "a-1"},
		&CommandRemoved{Seq: 4, CommandID: "c-1"},
		&TimingQuery{RequestID: "r", CommandID: "c", From: 3},
		&TimingResult{RequestID: "r", CommandID: "c", More: true, Next: 4, Events: []TimingEvent{
			{TimeMS: 1, Kind: EventOutput, Offset: 2}, {TimeMS: 3, Kind: EventResize, Offset: 4, Cols: 80, Rows: 24},
			{TimeMS: 5, Kind: EventInput, Offset: 6, Data: []byte{0, 255, 'a'}}}},
		&SearchQuery{RequestID: "s", Query: `panic "exit status"`, Agent: "a", Labels: Strings{"pool": "ci"}, Since: at, Before: 9, Limit: 5, Context: 2},
		&SearchResult{RequestID: "s", Next: 7, Hits: []SearchHit{{Cursor: 8, CommandID: "c", Command: "make", AgentID: "a", AgentName: "b",
			CreatedAt: at, Line: 3, Offset: 40, Text: "panic: x", Before: []string{"a"}, After: []string{"b", ""}}}},
	}
	if len(msgs) != len(newMessage) {
		t.Fatalf("test covers %d message types, wire defines %d", len(msgs), len(newMessage))
	}
	for _, m := range msgs {
		data, err := Encode(m)
		if err != nil {
			t.Fatalf("encode %T: %v", m, err)
		}
		if !bytes.HasPrefix(data, []byte(`{"type":"`+m.MessageType()+`"`)) {
			t.Errorf("%T encodes as %s", m, data)
		}
		got, err := Decode(data)
		if err != nil {
			t.Fatalf("decode %s: %v", data, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip of %T:\n got %#v\nwant %#v", m, got, m)
		}
	}
}

func TestEncodeEmptyMessage(t *testing.T) {
	if got := string(MustEncode(&Unsubscribe{})); got != `{"type":"unsubscribe","command_id":""}` {
		t.Errorf("got %s", got)
	}
	if got := string(MustEncode(&Heartbeat{})); got != `{"type":"heartbeat","running":0}` {
		t.Errorf("got %s", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		in   string
		want error
		code string
	}{
		{`{`, ErrBadMessage, CodeBadMessage},
		{`[]`, ErrBadMessage, CodeBadMessage},
		{`{"type":5}`, ErrBadMessage, CodeBadMessage},
		{`{}`, ErrBadMessage, CodeBadMessage},
		{`{"type":"nope"}`, ErrUnknownType, CodeUnknownType},
		{`{"type":"subscribe","offset":"x"}`, ErrBadMessage, CodeBadMessage},
		{`{"type":"subscribe","offset":1e400}`, ErrBadMessage, CodeBadMessage},
		{`{"type":"hello","protocol":1,"x":` + strings.Repeat("1", MaxMessageSize) + `}`, ErrTooLarge, CodeTooLarge},
	}
	for _, tc := range tests {
		_, err := Decode([]byte(tc.in))
		if !errors.Is(err, tc.want) || ErrorCode(err) != tc.code {
			t.Errorf("Decode(%.40q) = %v (code %s), want %v (%s)", tc.in, err, ErrorCode(err), tc.want, tc.code)
		}
	}
	// Unknown fields are ignored for forward compatibility.
	m, err := Decode([]byte(`{"type":"subscribe","command_id":"c","offset":3,"future":true}`))
	if err != nil || m.(*Subscribe).Offset != 3 {
		t.Errorf("unknown field: %v %v", m, err)
	}
}

func TestFrames(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	f, err := ParseFrame(OutputFrame("c-1", 1<<40, all))
	if err != nil || f.Kind != FrameOutput || f.CommandID != "c-1" || f.Offset != 1<<40 || !bytes.Equal(f.Data, all) {
		t.Fatalf("output frame: %+v %v", f, err)
	}
	if f.End() != 1<<40+256 {
		t.Errorf("End = %d", f.End())
	}
	f, err = ParseFrame(InputFrame("c-2", []byte("\x03")))
	if err != nil || f.Kind != FrameInput || f.CommandID != "c-2" || string(f.Data) != "\x03" {
		t.Fatalf("input frame: %+v %v", f, err)
	}
	f, err = ParseFrame(ReplyFrame("c-3", []byte("\x1b[?1;2c")))
	if err != nil || f.Kind != FrameReply || f.CommandID != "c-3" || string(f.Data) != "\x1b[?1;2c" {
		t.Fatalf("reply frame: %+v %v", f, err)
	}
	// The documented example.
	want := []byte{0x01, 0x03, 'c', '-', '1', 0, 0, 0, 0, 0, 0, 0, 0, 'h', 'i', '\n'}
	if got := OutputFrame("c-1", 0, []byte("hi\n")); !bytes.Equal(got, want) {
		t.Errorf("example frame = % x", got)
	}
	for _, bad := range [][]byte{nil, {1}, {1, 0}, {1, 5, 'a'}, {1, 1, 'a', 0, 0}, {4, 1, 'a'},
		append([]byte{1, 1, 'a'}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)} {
		if _, err := ParseFrame(bad); err == nil {
			t.Errorf("ParseFrame(% x) accepted", bad)
		}
	}
}

func TestTargetsMatch(t *testing.T) {
	a := AgentInfo{ID: "a-1", Name: "build", Labels: map[string]string{"pool": "ci", "os": "linux"}}
	tests := []struct {
		t    Targets
		want bool
	}{
		{Targets{Agents: []string{"build"}}, true},
		{Targets{Agents: []string{"a-1"}}, true},
		{Targets{Agents: []string{"other"}}, false},
		{Targets{Labels: map[string]string{"pool": "ci"}}, true},
		{Targets{Labels: map[string]string{"pool": "ci", "os": "mac"}}, false},
		{Targets{Labels: map[string]string{"gpu": ""}}, false},
		{Targets{}, false},
	}
	for _, tc := range tests {
		if got := tc.t.Matches(a); got != tc.want {
			t.Errorf("%+v.Matches = %v, want %v", tc.t, got, tc.want)
		}
	}
}

func TestNewIDAndValidID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID("c")
		if !ValidID(id) || !strings.HasPrefix(id, "c-") || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "a b", "é", strings.Repeat("x", 256)} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

// FuzzDecode checks that no input makes the decoders panic, and that what
// decodes re-encodes to something that decodes the same.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{`{"type":"hello","protocol":1}`, `{"type":"run","targets":{"agents":["a"]},"argv":["ls"]}`,
		`{"type":"subscribe","command_id":"c","offset":5}`, `{"type":"exited","command_id":"c","state":"exited","exit_code":1}`,
		`{`, `{"type":null}`, "\x01\x01a\x00\x00\x00\x00\x00\x00\x00\x00hi", "\x02\x01ax"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseFrame(data)
		m, err := Decode(data)
		if err != nil {
			return
		}
		again, err := Decode(MustEncode(m))
		if err != nil {
			t.Fatalf("re-decode of %T failed: %v", m, err)
		}
		if again.MessageType() != m.MessageType() {
			t.Fatalf("type changed: %s -> %s", m.MessageType(), again.MessageType())
		}
	})
}

func BenchmarkEncodeCommandEvent(b *testing.B) {
	code := 0
	m := &CommandEvent{Seq: 1, Command: Command{ID: "c-mfq3k9zz-0a1b2c3d4e5f", AgentID: "a-x", State: StateExited, ExitCode: &code,
		CommandSpec: CommandSpec{Argv: []string{"make", "test"}}, CreatedAt: time.Now()}}
	b.ReportAllocs()
	for b.Loop() {
		_ = MustEncode(m)
	}
}

func BenchmarkDecodeSubscribe(b *testing.B) {
	data := MustEncode(&Subscribe{CommandID: "c-mfq3k9zz-0a1b2c3d4e5f", Offset: 123456})
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Decode(data)
	}
}

func BenchmarkParseOutputFrame(b *testing.B) {
	frame := OutputFrame("c-mfq3k9zz-0a1b2c3d4e5f", 1234, make([]byte, 100))
	b.ReportAllocs()
	for b.Loop() {
		_, _ = ParseFrame(frame)
	}
}

// Decode reads a leading "type" without a first parse; messages where
// that could read differently from encoding/json take the full parse.
func TestDecodeTypeShortcutAgreesWithFullParse(t *testing.T) {
	cases := []struct {
		in   string
		want string // message type, or "" for an error
	}{
		{`{"type":"subscribe","command_id":"c1","offset":0}`, TypeSubscribe},
		{`{"command_id":"c1","type":"subscribe"}`, TypeSubscribe},
		{`{"type":"hello","type":"subscribe","command_id":"c1"}`, TypeSubscribe}, // the last one wins, as in encoding/json
		{`{"type":"sub\u0073cribe","command_id":"c1"}`, TypeSubscribe},
		{`{"type":"subscribe","command_id":"c1"`, ""}, // truncated: still refused
		{`{"type":"subscribe","command_id":"c1"} trailing`, ""},
		{`{"type":"nope"}`, ""},
	}
	for _, c := range cases {
		m, err := Decode([]byte(c.in))
		switch {
		case c.want == "" && err == nil:
			t.Errorf("%s: decoded as %s, want an error", c.in, m.MessageType())
		case c.want != "" && err != nil:
			t.Errorf("%s: %v", c.in, err)
		case c.want != "" && m.MessageType() != c.want:
			t.Errorf("%s: decoded as %s, want %s", c.in, m.MessageType(), c.want)
		}
	}
}

func TestReadAllCopiesExactlyAndRefusesOverLimit(t *testing.T) {
	var prev []byte
	for i, n := range []int{0, 1, 4095, 4096, 4097, 100 << 10} {
		msg := bytes.Repeat([]byte{'a' + byte(i)}, n)
		got, err := ReadAll(bytes.NewReader(msg), 100<<10)
		if err != nil || !bytes.Equal(got, msg) {
			t.Errorf("%d bytes: got %d, %v", n, len(got), err)
		}
		if len(prev) > 0 && prev[0] != 'a'+byte(i-1) {
			t.Errorf("reading message %d changed message %d: the result shares the scratch buffer", i, i-1)
		}
		prev = got
	}
	_, err := ReadAll(bytes.NewReader(make([]byte, 5000)), 4999)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("5000 bytes with a 4999 limit: %v, want ErrTooLarge", err)
	}
}

func BenchmarkDecodeAgentEvent(b *testing.B) {
	data := MustEncode(&AgentEvent{Seq: 42, Agent: Agent{AgentInfo: AgentInfo{ID: "a-7f3e9c", Name: "build-17",
		Labels: map[string]string{"env": "ci", "pool": "linux"}, Hostname: "build-17.example", OS: "linux", Arch: "amd64",
		Version: "0.9.0", MaxConcurrent: 4}, Status: AgentIdle, LastSeen: time.Now()}})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAttentionUrgency(t *testing.T) {
	order := []Attention{AttentionWaiting, AttentionQuiet, AttentionWorking, AttentionIdle, AttentionOffline}
	for i := 1; i < len(order); i++ {
		if order[i-1].Urgency() <= order[i].Urgency() {
			t.Errorf("%s should be more urgent than %s", order[i-1], order[i])
		}
	}
	if Attention("later").Urgency() != AttentionWorking.Urgency() {
		t.Error("an unknown state should rank as working")
	}
	for _, a := range order[:4] {
		if !a.Reportable() {
			t.Errorf("%s should be reportable", a)
		}
	}
	if AttentionOffline.Reportable() || Attention("").Reportable() {
		t.Error("offline and empty are not command states")
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"  Continue?\t[y/N]  ", 100, "Continue? [y/N]"},
		{"a\x1b]52;c;x\x07b", 100, "a ]52;c;x b"},
		{"bad \xff utf8", 100, "bad \uFFFD utf8"},
		{"ünïcode", 3, "ün"}, {"ünïcode", 2, "ü"},
		{"ab cd", 3, "ab"},
		{"line\r\nnext", 100, "line next"},
	}
	for _, tt := range tests {
		if got := CleanText(tt.in, tt.max); got != tt.want {
			t.Errorf("CleanText(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}
