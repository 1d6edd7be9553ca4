package client

import (
	"github.com/gorilla/websocket"

	"switchboard/internal/tlsconf"
)

// TLSDialer returns a WebSocket dialer that trusts the certificates in
// caFile in addition to the system's; with no file, the default dialer.
func TLSDialer(caFile string) (*websocket.Dialer, error) {
	cfg, err := tlsconf.Client(caFile)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return websocket.DefaultDialer, nil
	}
	d := *websocket.DefaultDialer
	d.TLSClientConfig = cfg
	return &d, nil
}
