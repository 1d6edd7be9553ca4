package proctest

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/creack/pty"
)

// AsciinemaCat runs the real `asciinema cat` (Debian's package asciinema)
// on an asciicast file and returns what it printed, in a UTF-8 locale. It
// reads the terminal it runs in (/dev/tty), so it gets a pseudo-terminal
// for that, and a pipe for its output, so that no terminal setting changes
// a byte of what it prints.
func AsciinemaCat(t testing.TB, file string) []byte {
	t.Helper()
	bin, err := exec.LookPath("asciinema")
	if err != nil {
		t.Fatalf("asciinema is needed (Debian package asciinema; .ci/run installs it): %v", err)
	}
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	go func() { _, _ = io.Copy(io.Discard, ptmx) }() // whatever it writes to the terminal
	cmd := exec.Command(bin, "cat", file)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "HOME="+t.TempDir())
	var out, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &out, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		t.Fatalf("asciinema cat %s: %v\n%s", file, err, stderr.Bytes())
	}
	return out.Bytes()
}
