package hub

import (
	"testing"
	"time"
)

// eventually polls cond until it holds, failing the test after 10 s.
// (relaytest imports the relay, which imports this package.)
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
	}
}
