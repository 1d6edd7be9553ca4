//go:build !unix

package sqlite

// LockServing takes no lock where there is no flock(2): one relay at a
// time is the operator's to ensure there.
func LockServing(path string) (release func(), err error) {
	return func() {}, nil
}
