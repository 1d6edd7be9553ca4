package tlsconf

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClient(t *testing.T) {
	if cfg, err := Client(""); cfg != nil || err != nil {
		t.Fatalf("no file: %v, %v; want Go's defaults", cfg, err)
	}
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		filepath.Join(dir, "missing.pem"): "read CA file",
		notPEM:                            "holds no PEM certificate",
	} {
		if _, err := Client(file); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Client(%s) = %v, want an error saying %q", file, err, want)
		}
	}
}

// TestWriteLocalCA: a client trusting the CA (Client) completes a
// handshake with a server using the certificate, on 127.0.0.1.
func TestWriteLocalCA(t *testing.T) {
	caFile, certFile, keyFile, err := WriteLocalCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	cfg, err := Client(caFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
	if err != nil {
		t.Fatalf("handshake with the local CA's certificate: %v", err)
	}
	c.Close()
	if _, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{MinVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("a client without the CA trusted the certificate")
	}
}
