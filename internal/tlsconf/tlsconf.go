// Package tlsconf builds the TLS settings with which the agent and the
// dashboard clients reach a relay over wss://, trusting a private
// certificate authority (--ca) besides the system's. It is shared so that
// the agent need not import the dashboard client.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Client returns a client configuration that trusts the PEM certificates
// in caFile in addition to the system's roots; with no file, nil, which
// means Go's defaults.
func Client(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
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
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
