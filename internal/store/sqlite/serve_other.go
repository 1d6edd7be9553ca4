//go:build !unix

package sqlite

import "context"

// LockServing takes no lock where there is no flock(2): one relay at a
// time is the operator's to ensure there.
func (db *DB) LockServing(ctx context.Context, lost func(error)) (func(), error) {
	return func() {}, nil
}
