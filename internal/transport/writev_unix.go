//go:build linux || darwin

package transport

import "golang.org/x/sys/unix"

// writevNow writes bufs to a non-blocking socket with one writev(2),
// returning 0 and no error when the socket has no room.
func writevNow(fd uintptr, bufs [][]byte) (int, error) {
	for {
		n, err := unix.Writev(int(fd), bufs)
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		default:
			return 0, err
		}
	}
}
