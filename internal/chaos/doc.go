// Package chaos is Switchboard's fault suite: each test builds the real
// relay and agent binaries, runs them as separate processes, and injects
// one kind of fault (a relay killed with SIGKILL, a network cut without a
// close, a dashboard that stops reading, a reconnect stampede, a full or
// read-only disk, a corpus of malformed input), then checks that the fault
// cost time but no data, and that nothing leaked: no goroutine in the test
// process (goleak) and no goroutine, socket or file in the relay process.
//
// The measured results are recorded in docs/reliability.md. The storage
// scenario mounts file systems, so the suite must run as root; it fails,
// rather than skips, when it cannot.
package chaos
