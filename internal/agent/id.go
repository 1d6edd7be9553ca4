package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"switchboard/internal/wire"
)

// defaultStateDir follows the XDG base directory spec for state data.
func defaultStateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "switchboard"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the state directory: %w", err)
	}
	return filepath.Join(home, ".local", "state", "switchboard"), nil
}

// loadOrCreateID returns the id stored for the agent called name in dir,
// creating it on first use. The relay knows an agent by this id across
// restarts, so that commands it held are matched to it again.
func loadOrCreateID(dir, name string) (string, error) {
	path := filepath.Join(dir, "agent-"+fileSafe(name)+".id")
	id, err := readID(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create state directory: %w", err)
	}
	if err := writeNewID(path, wire.NewID("a")); err != nil {
		return "", err
	}
	// Read back: if another agent of the same name raced us, its id won.
	return readID(path)
}

func readID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("read agent id: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if !wire.ValidID(id) {
		return "", fmt.Errorf("agent id file %s holds %q, which is not a valid id; delete it to get a new id", path, id)
	}
	return id, nil
}

// writeNewID writes id to path unless path exists. The id is written to a
// temporary file and linked into place, so no reader ever sees half an id.
func writeNewID(path, id string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".agent-id-*")
	if err != nil {
		return fmt.Errorf("create agent id: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(id + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write agent id: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("store agent id: %w", err)
	}
	return nil
}

// fileSafe keeps letters, digits, dot, dash and underscore of a name.
func fileSafe(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, name)
}
