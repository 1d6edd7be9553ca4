package client

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gorilla/websocket"

	"switchboard/internal/tlsconf"
)

// LoadToken returns the token given directly, or else the one in file
// (surrounding white space removed). Both empty is no token.
func LoadToken(token, file string) (string, error) {
	if token != "" && file != "" {
		return "", errors.New("give a token or a token file, not both")
	}
	if file == "" {
		return token, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("token file %s is empty", file)
	}
	return t, nil
}

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
