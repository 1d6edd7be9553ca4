package tlsconf

import (
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
