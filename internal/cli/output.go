package cli

import (
	"bytes"
	"fmt"
	"io"

	"switchboard/internal/wire"
)

// outputWriter writes command output to stdout: raw bytes for a single
// command, whole lines prefixed by the agent name for several, so that
// lines from different agents never interleave mid-line.
type outputWriter struct {
	w       io.Writer
	prefix  map[string]string // command id -> "name | "; nil for a single command
	partial map[string][]byte // command id -> unfinished line
}

func newOutputWriter(w io.Writer, cmds []wire.Command) *outputWriter {
	o := &outputWriter{w: w}
	if len(cmds) > 1 {
		o.prefix, o.partial = make(map[string]string), make(map[string][]byte)
		for _, c := range cmds {
			o.prefix[c.ID] = fmt.Sprintf("%s | ", esc(c.AgentName))
		}
	}
	return o
}

func (o *outputWriter) write(id string, data []byte) {
	if o.prefix == nil {
		_, _ = o.w.Write(data)
		return
	}
	buf := append(o.partial[id], data...)
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		fmt.Fprintf(o.w, "%s%s\n", o.prefix[id], bytes.TrimRight(buf[:i], "\r"))
		buf = buf[i+1:]
	}
	o.partial[id] = append([]byte(nil), buf...)
}

// flush writes unfinished last lines.
func (o *outputWriter) flush() {
	for id, rest := range o.partial {
		if len(rest) > 0 {
			fmt.Fprintf(o.w, "%s%s\n", o.prefix[id], rest)
		}
	}
}
