package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/wire"
)

const (
	readLimit       = wire.MaxMessageSize + 64 // the largest message the relay sends, with slack
	clientWriteWait = 10 * time.Second
	// The relay pings every 10 s; three missed pings mean it is gone.
	clientReadTimeout = 35 * time.Second
)

type outMsg struct {
	kind int
	data []byte
}

// session is one WebSocket connection of a Client: a reader (the caller of
// run) and a writer goroutine that alone writes to ws.
type session struct {
	c      *Client
	url    string // the relay's dashboard URL
	ws     *websocket.Conn
	out    chan outMsg
	closed chan struct{}
	once   sync.Once
}

// connect dials the relay at url, says hello, and reads welcome and the
// full snapshot.
func (c *Client) connect(ctx context.Context, url string) (*session, error) {
	hdr := http.Header{}
	ws, resp, err := c.cfg.Dialer.DialContext(ctx, url, hdr)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("connect to relay %s: %w (HTTP %s)", url, err, resp.Status)
		}
		return nil, fmt.Errorf("connect to relay %s: %w", url, err)
	}
	ws.SetReadLimit(readLimit)
	s := &session{c: c, url: url, ws: ws, out: make(chan outMsg, 256), closed: make(chan struct{})}
	if err := s.handshake(ctx); err != nil {
		ws.Close()
		return nil, err
	}
	return s, nil
}

func (s *session) handshake(ctx context.Context) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = s.ws.SetReadDeadline(dl)
	} else {
		_ = s.ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	}
	hello := wire.MustEncode(&wire.Hello{Protocol: wire.ProtocolVersion, Client: s.c.cfg.Client, Token: s.c.cfg.Token})
	if err := s.ws.WriteMessage(websocket.TextMessage, hello); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	snap := State{Agents: map[string]wire.Agent{}, Commands: map[string]wire.Command{}}
	welcomed := false
	for {
		m, err := s.readControl()
		if err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		switch m := m.(type) {
		case *wire.Welcome:
			welcomed = true
		case *wire.Error:
			return fmt.Errorf("relay refused the connection: %w", m)
		case *wire.Snapshot:
			if !welcomed {
				return errors.New("handshake: snapshot before welcome")
			}
			snap.Seq = m.Seq
			for _, a := range m.Agents {
				snap.Agents[a.ID] = a
			}
			for _, cmd := range m.Commands {
				snap.Commands[cmd.ID] = cmd
			}
			if !m.Partial {
				s.c.mu.Lock()
				s.c.state = snap
				s.c.cur = s
				s.c.mu.Unlock()
				s.c.emit(Resynced{Seq: snap.Seq})
				return nil
			}
		}
	}
}

// readControl reads the next text message, turning a close into an error
// that carries the relay's reason.
func (s *session) readControl() (wire.Message, error) {
	for {
		kind, data, err := s.ws.ReadMessage()
		if err != nil {
			return nil, err
		}
		if kind == websocket.TextMessage {
			return wire.Decode(data)
		}
	}
}

// run serves the session until it fails or the client ends.
func (s *session) run() error {
	var wg sync.WaitGroup
	wg.Go(s.writeLoop)
	stop := context.AfterFunc(s.c.ctx, func() { s.close(websocket.CloseNormalClosure, "client closing") })
	defer stop()
	err := s.readLoop()
	s.close(websocket.CloseNormalClosure, "")
	wg.Wait()
	s.ws.Close()
	return err
}

func (s *session) readLoop() error {
	_ = s.ws.SetReadDeadline(time.Now().Add(clientReadTimeout))
	s.ws.SetPingHandler(func(data string) error {
		_ = s.ws.SetReadDeadline(time.Now().Add(clientReadTimeout))
		return s.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(clientWriteWait))
	})
	renewed := time.Now()
	for {
		kind, data, err := readMessage(s.ws)
		if err != nil {
			return fmt.Errorf("read from relay: %w", err)
		}
		// Moving the deadline costs more than reading a small message, so
		// it moves at most every clientReadTimeout/16.
		if now := time.Now(); now.Sub(renewed) > clientReadTimeout/16 {
			renewed = now
			_ = s.ws.SetReadDeadline(now.Add(clientReadTimeout))
		}
		if kind == websocket.BinaryMessage {
			s.c.onFrame(data)
			continue
		}
		m, err := wire.Decode(data)
		if err != nil {
			s.c.log.Warn("undecodable message from relay", "err", err)
			continue
		}
		s.c.onMessage(m)
	}
}

// readMessage reads the next message into a new slice of exactly its size.
func readMessage(ws *websocket.Conn) (int, []byte, error) {
	kind, r, err := ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	data, err := wire.ReadAll(r, readLimit)
	if err != nil {
		return 0, nil, err
	}
	return kind, data, nil
}

func (s *session) writeLoop() {
	for {
		select {
		case m := <-s.out:
			_ = s.ws.SetWriteDeadline(time.Now().Add(clientWriteWait))
			if err := s.ws.WriteMessage(m.kind, m.data); err != nil {
				s.close(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-s.closed:
			return
		}
	}
}

// close ends the session; the reader sees the socket close.
func (s *session) close(code int, reason string) {
	s.once.Do(func() {
		close(s.closed)
		_ = s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		_ = s.ws.SetReadDeadline(time.Now().Add(time.Second))
	})
}

func (s *session) send(m wire.Message) error {
	return s.enqueue(outMsg{kind: websocket.TextMessage, data: wire.MustEncode(m)})
}

func (s *session) sendBinary(frame []byte) error {
	return s.enqueue(outMsg{kind: websocket.BinaryMessage, data: frame})
}

// enqueue waits for room in the writer's queue: the client paces its own
// user rather than dropping what they typed.
func (s *session) enqueue(m outMsg) error {
	select {
	case s.out <- m:
		return nil
	case <-s.closed:
		return errors.New("connection to relay closed")
	}
}

// onFrame delivers output once: bytes before the subscription's offset
// (resent around a reconnect) are dropped.
func (c *Client) onFrame(data []byte) {
	f, err := wire.ParseFrame(data)
	if err != nil || f.Kind != wire.FrameOutput {
		c.log.Warn("bad binary frame from relay", "err", err)
		return
	}
	c.mu.Lock()
	sub := c.subs[f.CommandID]
	if sub == nil || !sub.confirmed || f.End() <= sub.next {
		c.mu.Unlock()
		return
	}
	if f.Offset < sub.next {
		f.Data = f.Data[sub.next-f.Offset:]
		f.Offset = sub.next
	}
	sub.next = f.End()
	c.mu.Unlock()
	c.emit(Output{CommandID: f.CommandID, Offset: f.Offset, Data: f.Data})
}

func (c *Client) onMessage(m wire.Message) {
	switch m := m.(type) {
	case *wire.AgentEvent:
		c.mu.Lock()
		c.state.Seq = m.Seq
		c.state.Agents[m.Agent.ID] = m.Agent
		c.mu.Unlock()
		c.emit(AgentChanged{Agent: m.Agent})
	case *wire.AgentRemoved:
		c.mu.Lock()
		c.state.Seq = m.Seq
		delete(c.state.Agents, m.AgentID)
		c.mu.Unlock()
		c.emit(AgentRemoved{AgentID: m.AgentID})
	case *wire.CommandRemoved:
		c.mu.Lock()
		c.state.Seq = m.Seq
		delete(c.state.Commands, m.CommandID)
		c.mu.Unlock()
		c.emit(CommandRemoved{CommandID: m.CommandID})
	case *wire.CommandEvent:
		c.mu.Lock()
		c.state.Seq = m.Seq
		c.state.Commands[m.Command.ID] = m.Command
		c.mu.Unlock()
		c.emit(CommandChanged{Command: m.Command})
	case *wire.Subscribed:
		c.mu.Lock()
		if sub := c.subs[m.CommandID]; sub != nil && sub.from == m.Offset {
			sub.confirmed = true
		}
		c.mu.Unlock()
	case *wire.OutputEnd:
		c.mu.Lock()
		sub := c.subs[m.CommandID]
		ok := sub != nil && sub.confirmed
		if ok {
			delete(c.subs, m.CommandID)
		}
		c.mu.Unlock()
		if ok {
			c.emit(OutputEnd{CommandID: m.CommandID, Offset: m.Offset})
		}
	case *wire.RunAccepted:
		c.reply(m.RequestID, m)
	case *wire.HistoryResult:
		c.reply(m.RequestID, m)
	case *wire.AuditResult:
		c.reply(m.RequestID, m)
	case *wire.SignInResult:
		c.reply(m.RequestID, m)
	case *wire.QuickReplySent:
		c.reply(m.RequestID, m)
	case *wire.AgentForgetResult:
		c.reply(m.RequestID, m)
	case *wire.TimingResult:
		c.reply(m.RequestID, m)
	case *wire.SearchResult:
		c.reply(m.RequestID, m)
	case *wire.Error:
		if m.RequestID == "" || !c.reply(m.RequestID, m) {
			c.emit(ServerError{m})
		}
	}
}

// reply hands m to the request waiting for it.
func (c *Client) reply(id string, m wire.Message) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.pending[id]
	if ok {
		ch <- m
		delete(c.pending, id)
	}
	return ok
}
