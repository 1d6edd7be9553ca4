package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	driver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// diagnose says why SQLite could not open or write the database at path,
// where it can: SQLite reports "disk I/O error" or "unable to open
// database file" without the system's reason. For those errors it tries
// to create a file beside the database and, if that fails too, returns how
// (a read-only file system, a failing disk, a full one). It returns ""
// when it learns nothing.
func diagnose(path string, err error) string {
	var se *driver.Error
	if !errors.As(err, &se) {
		return ""
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY:
	default:
		return ""
	}
	f, perr := os.CreateTemp(filepath.Dir(path), ".switchboard-probe-*")
	if perr != nil {
		return fmt.Sprintf(" (creating a file beside the database fails too: %v)", perr)
	}
	f.Close()
	_ = os.Remove(f.Name())
	return ""
}
