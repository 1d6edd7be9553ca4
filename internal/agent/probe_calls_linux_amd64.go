//go:build linux && amd64

package agent

import "golang.org/x/sys/unix"

var callKinds = map[int64]callKind{
	unix.SYS_READ: callRead, unix.SYS_READV: callRead, unix.SYS_PREAD64: callRead,
	unix.SYS_PREADV: callRead, unix.SYS_PREADV2: callRead,
	unix.SYS_SELECT: callSelect, unix.SYS_PSELECT6: callSelect,
	unix.SYS_POLL: callPoll, unix.SYS_PPOLL: callPpoll,
}
