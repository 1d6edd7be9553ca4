package relaytest

import (
	"crypto/tls"
	"testing"

	"switchboard/internal/tlsconf"
)

// WriteCA makes a certificate authority and a server certificate for
// 127.0.0.1 signed by it, and writes them as PEM files in dir: the CA for
// clients to trust (--ca), the certificate and key for the relay
// (--tls-cert, --tls-key).
func WriteCA(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caFile, certFile, keyFile, err := tlsconf.WriteLocalCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	return caFile, certFile, keyFile
}

// ServerCert makes a CA in dir (see WriteCA) and returns its file and the
// server certificate, ready for a tls.Config.
func ServerCert(t testing.TB, dir string) (caFile string, cert tls.Certificate) {
	t.Helper()
	caFile, certFile, keyFile := WriteCA(t, dir)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return caFile, cert
}
