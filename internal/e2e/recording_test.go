package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/proctest"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// TestExportPlaysInAsciinema: tui export writes a real command's recording
// as asciicast v2, and the real asciinema prints exactly what tui logs
// does; with --input, what was typed is in it too.
func TestExportPlaysInAsciinema(t *testing.T) {
	addr := proctest.FreeAddr(t)
	startRelay(t, addr, filepath.Join(t.TempDir(), "sb.db"))
	start(t, "agent", "--relay", "ws://"+addr, "--name", "rec-box", "--record-input", "--state-dir", t.TempDir())
	cl, err := client.Dial(context.Background(), client.Config{Relay: "ws://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitIdle(t, cl, "rec-box")
	cmds, err := cl.Run(context.Background(), wire.Targets{Agents: []string{"rec-box"}}, wire.CommandSpec{Argv: []string{"cat"}})
	if err != nil {
		t.Fatal(err)
	}
	id := cmds[0].ID
	relaytest.Eventually(t, 15*time.Second, "cat running", func() bool { return cl.State().Commands[id].State == wire.StateRunning })
	for _, line := range []string{"grüße 漢字\r", "😀 ok\r"} {
		if err := cl.Input(id, []byte(line)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cl.Input(id, []byte{4}); err != nil {
		t.Fatal(err)
	}
	relaytest.Eventually(t, 15*time.Second, "cat ended", func() bool { return cl.State().Commands[id].State.Final() })

	logs, _, code := tui(t, addr, "logs", id)
	if code != 0 || !strings.Contains(logs, "😀 ok") {
		t.Fatalf("logs: code %d, %q", code, logs)
	}
	file := filepath.Join(t.TempDir(), "rec.cast")
	if _, stderr, code := tui(t, addr, "export", id, "-o", file); code != 0 {
		t.Fatalf("export: code %d: %s", code, stderr)
	}
	if got := proctest.AsciinemaCat(t, file); !bytes.Equal(got, []byte(logs)) {
		t.Fatalf("asciinema cat printed %q, tui logs %q", got, logs)
	}
	fromFile, _ := os.ReadFile(file)
	if strings.Contains(string(fromFile), `"i",`) {
		t.Errorf("export without --input has input events")
	}
	stdout, stderr, code := tui(t, addr, "export", "--input", id)
	if code != 0 || !strings.Contains(stdout, `"i", "grüße 漢字\r"`) {
		t.Fatalf("export --input to stdout: code %d, %s\n%s", code, stderr, stdout)
	}
	if _, _, code := tui(t, addr, "export", "c-nope"); code == 0 {
		t.Errorf("export of an unknown command succeeded")
	}
}
