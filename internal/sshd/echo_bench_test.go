package sshd_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	"github.com/creack/pty"

	"switchboard/internal/proctest"
	"switchboard/internal/sshd"
	"switchboard/internal/store"
)

// BenchmarkEcho measures a keystroke's echo through the dashboard as its
// user sees it: a key typed into the terminal of the real ssh client →
// the SSH server → the dashboard (interactive mode) → its client → the
// relay → the agent → cat's PTY, whose echo goes all the way back and is
// drawn by the dashboard into its pane → the SSH channel → ssh → the
// terminal, where the benchmark's emulator (x/vt, answering the
// dashboard's queries as a terminal does) shows the character. The local
// tui binary, on the same relay, agent and terminal, is the reference:
// the difference is what SSH adds.
func BenchmarkEcho(b *testing.B) {
	h := newHarness(b, sshd.Config{Logger: slog.New(slog.DiscardHandler)})
	h.agent("box", "cat")
	key := h.user("alice", store.RoleOperator)
	b.Run("ssh", func(b *testing.B) {
		measureEcho(b, exec.Command("ssh", append([]string{"-t"}, h.sshArgs(key)...)...))
	})
	dir, err := proctest.Build("tui")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	tokFile := filepath.Join(b.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(h.relay.Token("bench-tui", store.RoleOperator, 0)), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Run("tui", func(b *testing.B) {
		measureEcho(b, exec.Command(filepath.Join(dir, "tui"), "--relay", h.relay.URL(), "--token-file", tokFile,
			"--log-file", filepath.Join(b.TempDir(), "tui.log")))
	})
}

// echoAlphabet: each key differs from the one before, so a redraw of
// earlier ones is never taken for the echo of the next.
const echoAlphabet = "#$&*+=@^_~"

// measureEcho runs cmd (a dashboard) in a terminal, opens box's session,
// takes the keyboard, and times b.N keys from the write into the terminal
// to the read that puts the line typed so far on its screen.
func measureEcho(b *testing.B, cmd *exec.Cmd) {
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	term, err := startTerminal(cmd, 120, 40)
	if err != nil {
		b.Fatal(err)
	}
	defer term.close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	term.await(ctx, b, "the dashboard", func(s string) bool { return strings.Contains(s, "connected") && strings.Contains(s, "box") })
	term.send(b, "o")
	term.await(ctx, b, "box's session", func(s string) bool { return strings.Contains(s, "box · cat") })
	term.send(b, "i")
	term.await(ctx, b, "interactive mode", func(s string) bool { return strings.Contains(s, "INTERACTIVE") })
	lat := make([]time.Duration, 0, b.N)
	typed := ""
	b.ResetTimer()
	for i := range b.N {
		if len(typed) >= 40 {
			b.StopTimer()
			term.send(b, "\x15") // ^U: cat's terminal erases the line
			line := typed
			term.await(ctx, b, "the line erased", func(s string) bool { return !strings.Contains(s, line) })
			typed = ""
			b.StartTimer()
		}
		// A person's keys fall anywhere between two of the dashboard's
		// frames (60 a second); keys sent as each echo lands would all
		// fall just after one and wait a whole frame for the next.
		b.StopTimer()
		time.Sleep(rand.N(20 * time.Millisecond))
		b.StartTimer()
		typed += string(echoAlphabet[i%len(echoAlphabet)])
		sent := time.Now()
		term.send(b, typed[len(typed)-1:])
		want := typed
		at := term.await(ctx, b, "the echo", func(s string) bool { return strings.Contains(s, want) })
		lat = append(lat, at.Sub(sent))
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}

// terminal is a program in a pseudo-terminal, read into an emulator.
type terminal struct {
	cmd   *exec.Cmd
	ptmx  *os.File
	emu   *vt.Emulator
	reads chan timedRead
}

type timedRead struct {
	at   time.Time
	data []byte
}

func startTerminal(cmd *exec.Cmd, cols, rows int) (*terminal, error) {
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
	if err != nil {
		return nil, err
	}
	t := &terminal{cmd: cmd, ptmx: ptmx, emu: vt.NewEmulator(cols, rows), reads: make(chan timedRead, 4096)}
	go func() { // the emulator's answers to the program's queries go back, as a terminal's do
		buf := make([]byte, 4096)
		for {
			n, err := t.emu.Read(buf)
			if err != nil {
				return
			}
			_, _ = ptmx.Write(buf[:n])
		}
	}()
	go func() { // each read is stamped when it arrives, before it is parsed
		defer close(t.reads)
		buf := make([]byte, 64<<10)
		for {
			n, err := ptmx.Read(buf)
			if n > 0 {
				t.reads <- timedRead{time.Now(), append([]byte(nil), buf[:n]...)}
			}
			if err != nil {
				return
			}
		}
	}()
	return t, nil
}

func (t *terminal) send(b *testing.B, s string) {
	if _, err := t.ptmx.Write([]byte(s)); err != nil {
		b.Fatal(err)
	}
}

// await feeds reads to the emulator until its screen satisfies cond, and
// returns when the read that did it arrived.
func (t *terminal) await(ctx context.Context, b *testing.B, what string, cond func(screen string) bool) time.Time {
	for {
		select {
		case r, ok := <-t.reads:
			if !ok {
				b.Fatalf("the program ended before %s; screen:\n%s", what, t.emu.String())
			}
			_, _ = t.emu.Write(r.data)
			if cond(t.emu.String()) {
				return r.at
			}
		case <-ctx.Done():
			b.Fatalf("no %s; screen:\n%s", what, t.emu.String())
		}
	}
}

func (t *terminal) close() {
	_ = t.cmd.Process.Kill()
	_ = t.cmd.Wait()
	_ = t.ptmx.Close()
	_ = t.emu.Close()
}
