//go:build linux && !amd64

package agent

import "golang.org/x/sys/unix"

// Architectures newer than amd64 have no select or poll, only their
// successors.
var callKinds = map[int64]callKind{
	unix.SYS_READ: callRead, unix.SYS_READV: callRead, unix.SYS_PREAD64: callRead,
	unix.SYS_PREADV: callRead, unix.SYS_PREADV2: callRead,
	unix.SYS_PSELECT6: callSelect, unix.SYS_PPOLL: callPpoll,
}
