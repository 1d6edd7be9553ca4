package relayring

import (
	"testing"
	"time"
)

// TestRing: a client stays on a relay whose connection was stable and
// moves to the next, around the ring, after any other end.
func TestRing(t *testing.T) {
	const stable = 10 * time.Second
	r := New([]string{"a", "b", "c"}, stable)
	if r.Current() != "a" || r.Len() != 3 {
		t.Fatalf("starts at %q with %d relays", r.Current(), r.Len())
	}
	for i, step := range []struct {
		lasted time.Duration
		want   string
	}{
		{0, "b"},          // a unreachable
		{stable, "b"},     // b worked for a while, then dropped: b again
		{stable - 1, "c"}, // b dropped soon after its welcome
		{0, "a"},          // around the ring
		{time.Hour, "a"},  // a worked
	} {
		if got := r.After(step.lasted); got != step.want || r.Current() != got {
			t.Fatalf("step %d: after a connection of %s, next %q (current %q), want %q", i, step.lasted, got, r.Current(), step.want)
		}
	}
	one := New([]string{"only"}, stable)
	if one.After(0) != "only" || one.After(time.Hour) != "only" {
		t.Fatal("a single relay is not retried")
	}
}

// TestRingKeepsItsOwnList: the caller's slice changing later does not
// move the ring.
func TestRingKeepsItsOwnList(t *testing.T) {
	urls := []string{"a", "b"}
	r := New(urls, time.Second)
	urls[0] = "x"
	if r.Current() != "a" {
		t.Fatalf("current %q after the caller's slice changed", r.Current())
	}
}
