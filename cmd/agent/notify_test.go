package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"switchboard/internal/agent"
)

func TestNotifyCommandLine(t *testing.T) {
	t.Setenv(agent.EnvNotifySocket, "") // as outside any Switchboard command
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"waiting", "--message", "Allow?"}, 0, "nothing to do"},
		{[]string{"--message", "Allow?", "idle"}, 0, "nothing to do"},
		{[]string{`{"hook_event_name":"Stop"}`}, 0, "nothing to do"},
		{[]string{`{"hook_event_name":"SubagentStop"}`}, 0, ""},
		{[]string{"asleep"}, 2, "neither waiting"},
		{nil, 2, "give a state"},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		code := notifyCommand(tt.args, devNull, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("agent notify %q: exit %d, stderr %q", tt.args, code, stderr.String())
		}
	}
}

func TestNotifyReadsHookJSONFromAPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		w.WriteString(`{"hook_event_name":"Notification","notification_type":"permission_prompt","message":"Allow Bash?"}`)
		w.Close()
	}()
	if got := string(readHookInput(r, hookWait)); !strings.Contains(got, "Allow Bash?") {
		t.Fatalf("read %q", got)
	}
	// A pipe nobody closes does not hang the hook.
	r2, w2, _ := os.Pipe()
	defer r2.Close() // ends the reader left behind
	defer w2.Close()
	if got := readHookInput(r2, 50*time.Millisecond); got != nil {
		t.Fatalf("read %q from an open, empty pipe", got)
	}
}
