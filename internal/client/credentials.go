package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gorilla/websocket"
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
	if caFile == "" {
		return websocket.DefaultDialer, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	d := *websocket.DefaultDialer
	d.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &d, nil
}
