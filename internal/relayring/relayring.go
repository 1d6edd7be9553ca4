// Package relayring picks which of several relays of one system (relays
// sharing one store) a client connects to next. The agent and the
// dashboard client share it, so that both move between relays by the same
// rule: the first relay to begin with; after a connection that was up for
// StableAfter or more, the same one again (it worked, and a client should
// stay where it is while its relay works: a blip or a restart is not a
// reason to move); after anything else (unreachable, refused, or lost
// soon after the welcome) the next one, around the ring.
//
// A Ring is owned by one connection loop and is not safe for concurrent
// use; it starts no goroutines and holds no locks.
package relayring

import "time"

// Ring is the relays in the order given and the one in use.
type Ring struct {
	urls        []string
	cur         int
	stableAfter time.Duration
}

// New returns a ring over urls (at least one) starting at the first. A
// connection that lasted stableAfter or more keeps the client on its relay.
func New(urls []string, stableAfter time.Duration) *Ring {
	if len(urls) == 0 {
		panic("relayring: no relays")
	}
	return &Ring{urls: append([]string(nil), urls...), stableAfter: stableAfter}
}

// Current is the relay to try now.
func (r *Ring) Current() string { return r.urls[r.cur] }

// Len is how many relays the ring has.
func (r *Ring) Len() int { return len(r.urls) }

// After moves on unless the connection that ended had been stable, and
// returns the relay to try next. lasted is 0 for an attempt that never
// connected.
func (r *Ring) After(lasted time.Duration) string {
	if lasted < r.stableAfter {
		r.cur = (r.cur + 1) % len(r.urls)
	}
	return r.urls[r.cur]
}
