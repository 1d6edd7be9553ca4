package cli

import (
	"bytes"
	"testing"

	"switchboard/internal/wire"
)

func TestOutputWriterPrefixesWholeLines(t *testing.T) {
	var out bytes.Buffer
	w := newOutputWriter(&out, []wire.Command{{ID: "a", AgentName: "one"}, {ID: "b", AgentName: "two"}})
	w.write("a", []byte("hel"))
	w.write("b", []byte("x\r\ny"))
	w.write("a", []byte("lo\r\nworld"))
	w.flush()
	want := "two | x\none | hello\n"
	got := out.String()
	if got[:len(want)] != want || !bytes.Contains(out.Bytes(), []byte("one | world\n")) || !bytes.Contains(out.Bytes(), []byte("two | y\n")) {
		t.Errorf("got %q", got)
	}
	var raw bytes.Buffer
	single := newOutputWriter(&raw, []wire.Command{{ID: "a", AgentName: "one"}})
	single.write("a", []byte("\x00\xffno prefix\r\n"))
	if raw.String() != "\x00\xffno prefix\r\n" {
		t.Errorf("single target output altered: %q", raw.String())
	}
}

func TestExitCode(t *testing.T) {
	three, zero := 3, 0
	tests := []struct {
		cmds []wire.Command
		want int
	}{
		{[]wire.Command{{State: wire.StateExited, ExitCode: &zero}}, 0},
		{[]wire.Command{{State: wire.StateExited, ExitCode: &three}}, 3},
		{[]wire.Command{{State: wire.StateExited, Signal: "SIGKILL"}}, 137},
		{[]wire.Command{{State: wire.StateTimedOut}}, ExitTimedOut},
		{[]wire.Command{{State: wire.StateCanceled}}, ExitCanceled},
		{[]wire.Command{{State: wire.StateRejected}}, ExitRejected},
		{[]wire.Command{{State: wire.StateLost}}, ExitLost},
		{[]wire.Command{{State: wire.StateExited, ExitCode: &zero}, {State: wire.StateExited, ExitCode: &three}}, 3},
	}
	for _, tc := range tests {
		if got := exitCode(tc.cmds); got != tc.want {
			t.Errorf("exitCode(%+v) = %d, want %d", tc.cmds, got, tc.want)
		}
	}
}
