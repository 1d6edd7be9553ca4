package cli

import (
	"bytes"
	"io"
	"os"

	"github.com/charmbracelet/x/term"
	"github.com/muesli/cancelreader"

	"switchboard/internal/recording"
)

// replayTerm is the user's terminal during a replay: raw while playing,
// so that keys typed neither echo into the recording nor stop it
// unannounced, and restored after, whatever the recording left it in.
type replayTerm struct {
	isTTY bool        // standard output is the user's terminal
	state *term.State // standard input's state before; nil: not raw
	in    cancelreader.CancelReader
	keys  chan byte     // nil: no keys
	done  chan struct{} // closed when the key reader has ended
}

// openTerminal makes standard input raw when both it and env.Stdout are
// this process's terminal (not over SSH: Env.Remote), and reads its keys
// in a goroutine that close ends.
func openTerminal(env Env) *replayTerm {
	t := &replayTerm{}
	out, ok := env.Stdout.(*os.File)
	if !ok || env.Remote != nil || !term.IsTerminal(out.Fd()) {
		return t
	}
	t.isTTY = true
	if !term.IsTerminal(os.Stdin.Fd()) {
		return t
	}
	in, err := cancelreader.NewReader(os.Stdin)
	if err != nil {
		return t
	}
	state, err := term.MakeRaw(os.Stdin.Fd())
	if err != nil {
		in.Close()
		return t
	}
	t.state, t.in, t.keys, t.done = state, in, make(chan byte, 16), make(chan struct{})
	go t.readKeys()
	return t
}

// readKeys passes typed bytes to keys until the reader is canceled.
func (t *replayTerm) readKeys() {
	defer close(t.done)
	buf := make([]byte, 64)
	for {
		n, err := t.in.Read(buf)
		for _, b := range buf[:n] {
			select {
			case t.keys <- b:
			default: // keys typed faster than played: dropped
			}
		}
		if err != nil {
			return
		}
	}
}

// close ends the key reader and gives standard input its state back.
func (t *replayTerm) close() {
	if t.in == nil {
		return
	}
	t.in.Cancel()
	<-t.done
	t.in.Close()
	_ = term.Restore(os.Stdin.Fd(), t.state)
	t.in = nil
}

// restore undoes, on the user's terminal, the modes the output played so
// far may have set: colours, a hidden cursor, mouse reporting, bracketed
// paste, the alternate screen; and ends the line, for the shell's prompt.
func (t *replayTerm) restore(w io.Writer, p *recording.Player) {
	if !t.isTTY {
		return
	}
	played := p.Played()
	seq := "\x1b[0m\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l"
	if inAltScreen(played) {
		seq += "\x1b[?1049l"
	} else if len(played) > 0 && played[len(played)-1] != '\n' {
		seq += "\r\n"
	}
	_, _ = io.WriteString(w, seq)
}

// inAltScreen reports whether output leaves the terminal on its
// alternate screen.
func inAltScreen(output []byte) bool {
	last := func(seqs ...string) int {
		at := -1
		for _, s := range seqs {
			at = max(at, bytes.LastIndex(output, []byte(s)))
		}
		return at
	}
	return last("\x1b[?1049h", "\x1b[?1047h", "\x1b[?47h") > last("\x1b[?1049l", "\x1b[?1047l", "\x1b[?47l")
}
