package hub

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// snapshotMaxAge bounds how stale a cached snapshot's output sizes and
// last-seen times may be; its agents and commands are exact, since the
// cache is keyed by the event sequence number.
const snapshotMaxAge = time.Second

// snapshotCache holds encoded snapshot messages for reuse by dashboards
// joining at the same event sequence number: a reconnect storm of many
// dashboards then encodes the state once, not once each, under Local.mu.
type snapshotCache struct {
	seq   uint64
	at    time.Time
	parts [][]byte
}

// snapshotPartsLocked returns the full live state as encoded snapshot
// messages of about snapshotPart bytes each; all but the last are marked
// partial, so that no message nears the size limit.
func (h *Local) snapshotPartsLocked() [][]byte {
	if c := h.snapCache; c != nil && c.seq == h.seq && time.Since(c.at) < snapshotMaxAge {
		return c.parts
	}
	agents := make([][]byte, 0, len(h.agents))
	for _, a := range h.agents {
		a.refresh()
		agents = append(agents, mustJSON(a.info))
	}
	cmds := make([][]byte, 0, len(h.commands))
	for _, cs := range h.commands {
		cmds = append(cmds, mustJSON(forDashboards(cs.snapshot())))
	}
	parts := assembleSnapshot(h.seq, agents, cmds)
	h.snapCache = &snapshotCache{seq: h.seq, at: time.Now(), parts: parts}
	return parts
}

// assembleSnapshot writes snapshot messages from encoded agents and
// commands, each item encoded once.
func assembleSnapshot(seq uint64, agents, cmds [][]byte) [][]byte {
	var parts [][]byte
	var buf bytes.Buffer
	nAgents, nCmds := 0, 0
	start := func() {
		buf.Reset()
		buf.WriteString(`{"type":"snapshot","seq":`)
		buf.WriteString(strconv.FormatUint(seq, 10))
		buf.WriteString(`,"agents":[`)
		nAgents, nCmds = 0, 0
	}
	// finish closes the message; the agents list is closed when the first
	// command is added, or here.
	finish := func(partial bool) {
		if nCmds == 0 {
			buf.WriteString(`],"commands":[`)
		}
		buf.WriteString("]")
		if partial {
			buf.WriteString(`,"partial":true`)
		}
		buf.WriteString("}")
		parts = append(parts, bytes.Clone(buf.Bytes()))
	}
	full := func(next []byte) bool { return nAgents+nCmds > 0 && buf.Len()+len(next) > snapshotPart }
	start()
	for _, a := range agents {
		if full(a) {
			finish(true)
			start()
		}
		if nAgents > 0 {
			buf.WriteByte(',')
		}
		buf.Write(a)
		nAgents++
	}
	for _, c := range cmds {
		if full(c) {
			finish(true)
			start()
		}
		if nCmds == 0 {
			buf.WriteString(`],"commands":[`)
		} else {
			buf.WriteByte(',')
		}
		buf.Write(c)
		nCmds++
	}
	finish(false)
	return parts
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // wire types always marshal
	}
	return b
}
