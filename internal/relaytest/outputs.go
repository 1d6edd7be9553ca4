package relaytest

import (
	"bytes"
	"fmt"

	"switchboard/internal/client"
)

// Outputs gathers commands' output as a dashboard receives it, by command
// id, checking that each piece starts where the one before it ended. It
// has no lock of its own.
type Outputs map[string]*bytes.Buffer

// Add appends ev's bytes to its command's output; the error says where
// it did not follow on.
func (o Outputs) Add(ev client.Output) error {
	b := o[ev.CommandID]
	if b == nil {
		b = &bytes.Buffer{}
		o[ev.CommandID] = b
	}
	var err error
	if int64(b.Len()) != ev.Offset {
		err = fmt.Errorf("%s: output at offset %d, have %d bytes", ev.CommandID, ev.Offset, b.Len())
	}
	b.Write(ev.Data)
	return err
}

// Bytes returns a copy of a command's output so far.
func (o Outputs) Bytes(id string) []byte {
	if b := o[id]; b != nil {
		return bytes.Clone(b.Bytes())
	}
	return nil
}
