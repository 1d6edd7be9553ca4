package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/wire"
)

// errShutdown ends a connection the agent closed because it shut down.
var errShutdown = errors.New("agent shut down")

// stream is what the current connection has sent of one command. It is
// per connection: on a new one it starts again from welcome.resume.
type stream struct {
	conn      *relayConn // the connection the fields below are about
	sent      int64      // offset of the next byte to send
	announced bool       // a session's "session" message went out
	exitSent  bool
	attnSent  uint64 // the attention version last sent
	timing    uint64 // Seq of the next timing record to send
}

// outMsg is one message for the writer.
type outMsg struct {
	kind    int // websocket.TextMessage or websocket.BinaryMessage
	data    []byte
	started *command // for a started message: mark it delivered once written
	output  int      // bytes of command output it carries
}

// Output gathering. A command that floods its terminal is read a few KiB
// at a time, thousands of reads a second. Sent one frame per read, every
// hop (this writer, the relay, its store, each dashboard) paid per frame,
// and the flood ran a fifth slower than it could. So after a flush that
// sent a flood's worth of output, the writer lets output gather for up to
// gatherFor before it sends again; a keystroke's echo, a few bytes after
// a quiet moment, goes out at once.
const (
	floodBytes = 2 << 10
	gatherFor  = time.Millisecond
)

// writeLoop owns the socket's write side. It does not take messages from
// a queue: it reads what to send from the agent's state (each command's
// buffer, start and exit), so output produced while disconnected and
// output produced live take the same path, and nothing waits on a slow
// relay but the relay's own connection.
func (a *Agent) writeLoop(ctx context.Context, rc *relayConn) error {
	defer rc.ws.Close() // also ends the reader
	heartbeat := time.NewTicker(rc.heartbeat)
	defer heartbeat.Stop()
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	defer gather.Stop()
	var (
		gathering bool      // gather is set: the next flush waits for it
		lastFlush time.Time // when the last flush that sent output ended
		lastBytes int       // how much output it sent
		backlog   bool      // it left more than a frame unsent
	)
	flush := func() error {
		sent, more, err := a.flush(rc)
		if sent > 0 {
			lastFlush, lastBytes, backlog = time.Now(), sent, more
		}
		return err
	}
	for {
		wake := rc.wake
		if gathering {
			wake = nil // the gather timer flushes; pokes meanwhile would only wake this goroutine
		}
		select {
		case <-ctx.Done():
			rc.close(websocket.CloseGoingAway, "agent disconnecting")
			return nil
		case <-wake:
			if wait := gatherFor - time.Since(lastFlush); lastBytes >= floodBytes && !backlog && wait > 0 {
				gathering = true
				gather.Reset(wait)
				continue
			}
			if err := flush(); err != nil {
				return err
			}
		case <-gather.C:
			gathering = false
			select {
			case <-rc.wake: // what it says is about to be sent
			default:
			}
			if err := flush(); err != nil {
				return err
			}
		case <-heartbeat.C:
			hb := &wire.Heartbeat{Running: a.running()}
			_ = rc.ws.SetWriteDeadline(time.Now().Add(writeWait))
			if err := rc.send(outMsg{kind: websocket.TextMessage, data: wire.MustEncode(hb)}); err != nil {
				return err
			}
		case <-ping.C:
			if err := rc.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				return fmt.Errorf("ping relay: %w", err)
			}
		}
	}
}

// flush sends one round of pending messages: at most one output frame per
// command, so that a flood from one command neither starves the others
// nor the heartbeat. It wakes itself again while more is pending, and
// returns how many bytes of output it sent and whether more is pending.
func (a *Agent) flush(rc *relayConn) (sent int, more bool, err error) {
	batch, more, done := a.collect(rc)
	_ = rc.ws.SetWriteDeadline(time.Now().Add(writeWait))
	for _, m := range batch {
		if err := rc.send(m); err != nil {
			return sent, more, err
		}
		if m.started != nil {
			a.markStarted(m.started)
		}
		sent += m.output
	}
	if done {
		rc.close(websocket.CloseGoingAway, "the agent is shutting down")
		return sent, more, errShutdown
	}
	if more {
		rc.poke()
	}
	return sent, more, nil
}

// collect builds the next round of messages. more reports output still
// unsent; done, that the agent has shut down and the relay has it all.
func (a *Agent) collect(rc *relayConn) (batch []outMsg, more, done bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	batch, rc.replies = rc.replies, nil
	for _, c := range a.order {
		s := c.streamFor(rc)
		batch = a.collectCommand(c, s, batch)
		more = more || s.sent < c.out.end || s.timingDue(c)
	}
	return batch, more, a.drained && !more
}

func (c *command) streamFor(rc *relayConn) *stream {
	if c.stream.conn != rc {
		c.stream = stream{conn: rc, sent: rc.resume[c.spec.ID]}
	}
	return &c.stream
}

// collectCommand appends c's pending messages in the order the relay needs
// them: the session, its start, any lost range, output, and the exit only
// once all output before it is sent.
func (a *Agent) collectCommand(c *command, s *stream, batch []outMsg) []outMsg {
	id := c.spec.ID
	// A session is announced once its process runs (or could not start):
	// announced earlier, as a session restarts, dashboards would type
	// into it before there is anything to type into, and lose the keys.
	if c.spec.Session && !s.announced && (c.pid != 0 || c.exit != nil) {
		batch = append(batch, text(&wire.SessionOpened{Command: c.sessionLocked()}))
		s.announced = true
	}
	if c.pid != 0 && !c.startedSent {
		m := text(&wire.Started{CommandID: id, PID: c.pid, StartedAt: c.startedAt.UTC()})
		m.started = c
		batch = append(batch, m)
	}
	s.sent = min(s.sent, c.out.end) // a relay claiming more than exists gets it all again
	if s.sent < c.out.start {
		// Bytes the relay wants that are gone. Acknowledged ones it has;
		// the others were dropped and it must hear so, or it would wait.
		lost := int64(0)
		for _, l := range c.out.lostIn(s.sent, c.out.start) {
			batch = append(batch, text(&wire.OutputDropped{CommandID: id, From: l.from, To: l.to}))
			lost += l.to - l.from
		}
		if lost < c.out.start-s.sent {
			a.log.Warn("the relay asked again for output it had acknowledged as stored; it is gone",
				"command_id", id, "from", s.sent, "to", c.out.start)
		}
		s.sent = c.out.start
	}
	if m, ok := s.outputFrame(c); ok {
		batch = append(batch, m)
	}
	if c.proc != nil && c.pid != 0 && s.attnSent != c.attn.version {
		batch = append(batch, text(c.attn.report(id, time.Now())))
		s.attnSent = c.attn.version
	}
	if c.exit != nil && !s.exitSent && s.sent == c.out.end && !s.timingDue(c) {
		batch = append(batch, text(c.exit))
		s.exitSent = true
	}
	return batch
}

// timingDue reports whether c has timing records this connection must
// still send.
func (s *stream) timingDue(c *command) bool {
	return s.conn.timing && len(c.timing.unsent(s.timing)) > 0
}

// outputFrame builds c's next output frame: a timed frame, with the
// timing records not yet sent, for a relay that takes them. Its output
// stops short of any record that did not fit in it.
func (s *stream) outputFrame(c *command) (outMsg, bool) {
	id := c.spec.ID
	n := min(c.out.end-s.sent, wire.MaxChunk)
	var recs []wire.TimingRecord
	if s.conn.timing {
		unsent := c.timing.unsent(s.timing)
		recs = section(unsent)
		if left := unsent[len(recs):]; len(left) > 0 {
			n = max(min(n, left[0].Offset-s.sent), 0)
		}
	}
	if n <= 0 && len(recs) == 0 {
		return outMsg{}, false
	}
	var frame []byte
	if len(recs) > 0 {
		sec := wire.AppendTimingSection(nil, recs)
		frame = wire.AppendTimedFrame(make([]byte, 0, 20+len(id)+len(sec)+int(n)), id, s.sent, sec, nil)
		s.timing = recs[len(recs)-1].Seq + 1
	} else {
		frame = wire.AppendOutputFrame(make([]byte, 0, 10+len(id)+int(n)), id, s.sent, nil)
	}
	frame = c.out.appendFrom(frame, s.sent, int(n))
	s.sent += n
	return outMsg{kind: websocket.BinaryMessage, data: frame, output: int(n)}, true
}

// sessionLocked is the session as announced to the relay.
func (c *command) sessionLocked() wire.Command {
	cmd := c.spec
	cmd.State = wire.StateRunning
	cmd.CreatedAt = c.startedAt.UTC()
	cmd.StartedAt = c.startedAt.UTC()
	return cmd
}

func (a *Agent) markStarted(c *command) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c.startedSent = true
}

func text(m wire.Message) outMsg {
	return outMsg{kind: websocket.TextMessage, data: wire.MustEncode(m)}
}

// send writes one message; the caller has set the write deadline.
func (rc *relayConn) send(m outMsg) error {
	if err := rc.ws.WriteMessage(m.kind, m.data); err != nil {
		return fmt.Errorf("write to relay: %w", err)
	}
	return nil
}

// close sends a close frame; errors do not matter, the socket closes next.
func (rc *relayConn) close(code int, reason string) {
	_ = rc.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
}
