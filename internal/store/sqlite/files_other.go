//go:build !unix

package sqlite

// prepareFiles has nothing to check where there are no Unix owners and
// modes; the database's directory's access list protects it.
func prepareFiles(string) error { return nil }
