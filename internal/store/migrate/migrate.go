// Package migrate owns what the SQL stores share about their schema
// history: numbered migration files read from an embedded file system,
// and the rule that a database migrated by a newer build is refused. Each
// store runs the pending migrations itself, in one transaction of its own
// database's kind.
package migrate

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// A Migration is one numbered SQL file, e.g. migrations/0002_add_x.sql.
type Migration struct {
	Version int
	Name    string // the file's base name, for errors
	SQL     string
}

// MustLoad is Load for migrations embedded in the binary, called when a
// store package loads, so that a misnamed file fails every test rather than
// a production start.
func MustLoad(fsys fs.FS) []Migration {
	ms, err := Load(fsys)
	if err != nil {
		panic(err)
	}
	return ms
}

// Load reads migrations/*.sql in version order. A name must start with a
// positive number and '_'; two files may not share a number.
func Load(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, name := range names {
		m, err := read(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", ms[i-1].Name, ms[i].Name, ms[i].Version)
		}
	}
	return ms, nil
}

func read(fsys fs.FS, name string) (Migration, error) {
	base := path.Base(name)
	num, _, _ := strings.Cut(base, "_")
	v, err := strconv.Atoi(num)
	if err != nil || v <= 0 {
		return Migration{}, fmt.Errorf("migration %s: name must start with a positive version number and '_'", name)
	}
	body, err := fs.ReadFile(fsys, name)
	if err != nil {
		return Migration{}, err
	}
	return Migration{Version: v, Name: base, SQL: string(body)}, nil
}

// Pending returns the migrations of ms whose versions are not in done, in
// order. It refuses a database holding a version ms does not know: it was
// migrated by a newer build, and this one would misread its schema.
func Pending(done map[int]bool, ms []Migration) ([]Migration, error) {
	for v := range done {
		if !slices.ContainsFunc(ms, func(m Migration) bool { return m.Version == v }) {
			return nil, fmt.Errorf("migrate: the database has schema version %d, which this build does not know; was it written by a newer Switchboard?", v)
		}
	}
	var todo []Migration
	for _, m := range ms {
		if !done[m.Version] {
			todo = append(todo, m)
		}
	}
	return todo, nil
}
