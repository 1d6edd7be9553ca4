package chaos

import (
	"fmt"
	"net"
	"os"
	"testing"

	"go.uber.org/goleak"

	"switchboard/internal/proctest"
)

// bin holds the relay and agent binaries built for this run.
var bin string

// TestMain builds the binaries (with -race when the tests run with it, as
// internal/e2e does), runs the scenarios, and fails the run if any
// goroutine of the test process outlived them.
func TestMain(m *testing.M) {
	dir, err := proctest.Build("relay", "agent")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	// Open the runtime's network poller now, so that its descriptors are
	// part of every test's starting count rather than a "leak" of the first.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}
