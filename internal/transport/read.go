package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/wire"
)

// The reading side of a Conn: its first message, then every message until
// the connection ends, from a read poller or from gorilla on a goroutine
// of its own. The size limit applies from the first byte either way.

// ReadFirst reads the connection's first message, waiting at most
// timeout for all of it. A message over the size limit is refused (error
// too_large, close 1009) here; the error then wraps wire.ErrTooLarge.
func (c *Conn) ReadFirst(timeout time.Duration) (int, []byte, error) {
	if c.sock == nil {
		return c.readFirstNetConn(timeout)
	}
	type message struct {
		kind int
		data []byte
	}
	got := make(chan message, 1)
	c.sock.start(wire.MaxMessageSize, timeout, inCounter{}, func(kind int, data []byte) readAction {
		if kind >= websocket.CloseMessage {
			return c.control(kind, data)
		}
		got <- message{kind, data}
		return readPause // until readLoop: its handler is not set up yet
	})
	t := time.NewTimer(timeout)
	defer t.Stop()
	for late := 0; ; late++ {
		select {
		case m := <-got:
			return m.kind, m.data, nil
		case <-c.sock.ended:
			err := c.readEnd()
			if errors.Is(err, wire.ErrTooLarge) {
				c.refuseTooLarge()
				c.sock.waitDrained(closeLinger)
			}
			return 0, nil, err
		case <-t.C:
			// A hello waiting in the socket unread is the poller's
			// lateness, not the peer's: it gets up to maxLateHello more
			// timeouts to be read.
			if late < maxLateHello && c.sock.unread() {
				t.Reset(timeout)
				continue
			}
			c.sock.end(fmt.Errorf("no whole message within %s: %w", timeout, os.ErrDeadlineExceeded))
			return 0, nil, c.readEnd()
		}
	}
}

// maxLateHello bounds how many more handshake timeouts a hello that
// arrived but was not read yet waits for its poller.
const maxLateHello = 2

// readFirstNetConn is readFirst from gorilla. Like every later message,
// the first is read under the size limit: gorilla's ReadMessage would
// grow its buffer to whatever length the frame header claims.
func (c *Conn) readFirstNetConn(timeout time.Duration) (int, []byte, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(timeout))
	kind, r, err := c.ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	data, err := wire.ReadAll(r, wire.MaxMessageSize)
	if errors.Is(err, wire.ErrTooLarge) {
		c.refuseTooLarge()
		_, _ = io.CopyN(io.Discard, r, maxTooLargeSay) // see readNetConn
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read hello: %w", err)
	}
	return kind, data, nil
}

// Handler takes one message. It may keep data. It may return then, work
// that must be done before the next message is handled and that may wait
// (a store lookup): the connection's reading pauses until then returns.
// A handler itself never waits.
type Handler func(kind int, data []byte) (then func())

// ReadLoop reads messages until the connection fails or closes, handing
// each to handle. It enforces the size limit itself so that it can say why
// it closes.
func (c *Conn) ReadLoop(handle Handler) error {
	defer func() {
		close(c.readDone)
		c.wakeWriter() // to flush what is queued and close the socket
	}()
	var err error
	if c.sock != nil {
		err = c.readPolled(handle)
	} else {
		err = c.readNetConn(handle)
	}
	switch {
	case c.sock != nil && errors.Is(err, wire.ErrTooLarge):
		c.refuseTooLarge()
		// As readNetConn does: the reader ends only once the rest of what
		// the peer sent is dropped, so the close waits for the peer to
		// read the reason rather than resetting it.
		c.sock.waitDrained(closeLinger)
	case errors.Is(err, errProtocol):
		c.Close(websocket.CloseProtocolError, err.Error())
	}
	return err
}

// refuseTooLarge tells the peer its message was over the limit and closes.
func (c *Conn) refuseTooLarge() {
	msg := fmt.Sprintf("message exceeds %d bytes", wire.MaxMessageSize)
	c.log.Warn("refusing oversized message", "remote", c.remote, "limit", wire.MaxMessageSize)
	c.SetWhy("too_large")
	c.SendError(wire.CodeTooLarge, msg, "", "")
	c.Close(wire.CloseTooBig, msg)
}

// readPolled is readLoop for a connection whose socket a poller reads:
// handle runs on the poller's goroutine, and this one waits for the end.
//
// A handler's then runs on a goroutine of its own while the socket is
// paused (its messages wait in the kernel), which then starts reading
// again: the poller's goroutine never waits for it.
func (c *Conn) readPolled(handle Handler) error {
	counter := inCounter{msgs: c.metrics.messagesIn, bytes: c.metrics.bytesIn}
	var read func(kind int, data []byte) readAction
	read = func(kind int, data []byte) readAction {
		if kind >= websocket.CloseMessage {
			return c.control(kind, data)
		}
		if then := handle(kind, data); then != nil {
			go func() {
				then()
				c.sock.start(wire.MaxMessageSize, c.readTimeout, counter, read)
			}()
			return readPause
		}
		return readOn
	}
	c.sock.start(wire.MaxMessageSize, c.readTimeout, counter, read)
	<-c.sock.ended
	return c.readEnd()
}

// control answers a control frame, for both read paths (a poller's, and
// gorilla's handlers set in newConn): a ping is answered, a close echoed
// with its code, and a pong needs nothing (the read itself shows the peer
// is alive).
func (c *Conn) control(kind int, data []byte) readAction {
	switch kind {
	case websocket.PingMessage:
		c.sendControl(websocket.PongMessage, data)
	case websocket.CloseMessage:
		ce := &websocket.CloseError{Code: websocket.CloseNoStatusReceived}
		body := []byte{}
		if len(data) >= 2 {
			ce.Code, ce.Text = int(binary.BigEndian.Uint16(data)), string(data[2:])
			body = websocket.FormatCloseMessage(ce.Code, "")
		}
		c.peerClosed = ce
		c.closeWith(body)
		return readEnd
	}
	return readOn
}

// readEnd is why a poller stopped reading the socket.
func (c *Conn) readEnd() error {
	if c.peerClosed != nil {
		return c.peerClosed
	}
	return c.sock.endErr
}

// readNetConn is readLoop for a connection gorilla reads, on this
// goroutine.
func (c *Conn) readNetConn(handle Handler) error {
	c.ws.SetReadLimit(0)
	// The read deadline moves forward at most every readTimeout/16 rather
	// than on each message: setting it costs more than reading a small
	// message, and a silent peer is still cut off within readTimeout.
	renewed := time.Now()
	_ = c.ws.SetReadDeadline(renewed.Add(c.readTimeout))
	c.ws.SetPongHandler(func(string) error {
		renewed = time.Now()
		return c.ws.SetReadDeadline(renewed.Add(c.readTimeout))
	})
	for {
		kind, r, err := c.ws.NextReader()
		if err != nil {
			return err
		}
		data, err := wire.ReadAll(r, wire.MaxMessageSize)
		if errors.Is(err, wire.ErrTooLarge) {
			c.refuseTooLarge()
			// Read on a little, so that the peer is not reset before it
			// reads why; the close ends this read soon anyway.
			_, _ = io.CopyN(io.Discard, r, maxTooLargeSay)
			return fmt.Errorf("read message: %w", err)
		}
		if err != nil {
			return fmt.Errorf("read message: %w", err)
		}
		if now := time.Now(); now.Sub(renewed) > c.readTimeout/16 {
			renewed = now
			_ = c.ws.SetReadDeadline(now.Add(c.readTimeout))
		}
		c.metrics.messagesIn.Inc()
		c.metrics.bytesIn.Add(float64(len(data)))
		if then := handle(kind, data); then != nil {
			then()
		}
	}
}
