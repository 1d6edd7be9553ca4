// Package addrlimit bounds what peers that have not authenticated may
// cost, counted per remote address (an IPv4 address, or an IPv6 /64,
// which one host usually holds whole) and in total: a Gate counts their
// open connections, and Failures is a budget of failed authentications
// that throttles an address once it is spent. The relay's HTTP and
// WebSocket side (relay/preauth.go) and its SSH server use both; they are
// safe for concurrent use and take no other lock.
package addrlimit

import (
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Key is the address limits are kept per for a remote address
// ("host:port" or a bare host).
func Key(remote string) string {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return host
	case ip.To4() == nil:
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// Gate counts connections that have not authenticated yet, per address
// and in total.
type Gate struct {
	perAddr, total int

	mu     sync.Mutex
	n      int
	byAddr map[string]int
}

// NewGate admits at most perAddr connections from one address and total
// from all.
func NewGate(perAddr, total int) *Gate {
	return &Gate{perAddr: perAddr, total: total, byAddr: make(map[string]int)}
}

// Enter counts one more connection from addr, or says why it may not.
func (g *Gate) Enter(addr string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.byAddr[addr] >= g.perAddr:
		return fmt.Errorf("%d connections from %s have not authenticated yet, the limit", g.byAddr[addr], addr)
	case g.n >= g.total:
		return fmt.Errorf("%d connections have not authenticated yet, the limit", g.n)
	}
	g.byAddr[addr]++
	g.n++
	return nil
}

// Leave undoes Enter, once the connection has authenticated or ended.
func (g *Gate) Leave(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.byAddr[addr]--; g.byAddr[addr] <= 0 {
		delete(g.byAddr, addr)
	}
}

// maxTracked bounds how many addresses Failures remembers.
const maxTracked = 10000

// Failures is each address's budget of failed authentications, refilled
// evenly.
type Failures struct {
	perMinute int

	mu     sync.Mutex
	byAddr map[string]*rate.Limiter
}

// NewFailures allows each address perMinute failures a minute.
func NewFailures(perMinute int) *Failures {
	return &Failures{perMinute: perMinute, byAddr: make(map[string]*rate.Limiter)}
}

// Blocked reports whether addr has spent its budget, and how long until
// it may try again.
func (f *Failures) Blocked(addr string, now time.Time) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.byAddr[addr]
	if l == nil || l.TokensAt(now) >= 1 {
		return 0, false
	}
	return time.Duration((1 - l.TokensAt(now)) / float64(l.Limit()) * float64(time.Second)), true
}

// Failed spends one failure of addr's budget.
func (f *Failures) Failed(addr string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.byAddr[addr]
	if l == nil {
		if len(f.byAddr) >= maxTracked {
			f.forgetLocked(now)
		}
		l = rate.NewLimiter(rate.Limit(float64(f.perMinute)/60), f.perMinute)
		f.byAddr[addr] = l
	}
	l.AllowN(now, 1)
}

// forgetLocked drops the addresses whose budget is whole again, and when
// none is, half of the others: an attacker with more addresses than this
// would get a fresh budget from each new one anyway.
func (f *Failures) forgetLocked(now time.Time) {
	for a, l := range f.byAddr {
		if l.TokensAt(now) >= float64(f.perMinute) {
			delete(f.byAddr, a)
		}
	}
	if len(f.byAddr) < maxTracked {
		return
	}
	drop := len(f.byAddr) / 2
	for a := range f.byAddr {
		if drop == 0 {
			return
		}
		delete(f.byAddr, a)
		drop--
	}
}
