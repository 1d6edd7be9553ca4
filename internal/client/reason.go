package client

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/gorilla/websocket"

	"switchboard/internal/wire"
)

// Reason says in a few words why a connection to the relay failed, for a
// status line: "connection refused", "no such host", the relay's own
// refusal. The full error goes to the log.
func Reason(err error) string {
	var dns *net.DNSError
	var refused *wire.Error
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: is the relay running?"
	case errors.As(err, &dns):
		return "no such host"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to the host"
	case errors.As(err, &refused):
		return refused.Message
	case errors.Is(err, websocket.ErrBadHandshake):
		return "not a Switchboard relay, or a proxy in the way (the WebSocket handshake failed)"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "no answer (timed out)"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}
