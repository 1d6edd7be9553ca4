package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"time"

	"switchboard/internal/wire"
)

// The connection loop: which relay to connect to, and moving to another
// when it is lost (relayring's rule), resubscribing there from the
// offsets the client has.

// stableAfter is how long a connection must have been up for the client
// to try its relay again first when it drops, rather than move on.
const stableAfter = 10 * time.Second

// refusal reports whether err is the relay's own refusal of the hello
// (a bad token, another protocol): every relay of a system would say the
// same, so it ends Dial.
func refusal(err error) bool {
	var refused *wire.Error
	return errors.As(err, &refused)
}

// connectAny tries each relay once, from the ring's current one, until
// one answers; it leaves the ring on that one. The error names each
// relay's failure.
func (c *Client) connectAny(ctx context.Context) (*session, error) {
	var errs []error
	for range c.ring.Len() {
		s, err := c.connect(ctx, c.ring.Current())
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
		if refusal(err) || ctx.Err() != nil {
			return nil, err
		}
		c.ring.After(0)
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	return nil, errors.Join(errs...)
}

// dashboardURLs turns the relays' addresses into their dashboard URLs,
// without repeats.
func dashboardURLs(first string, more []string) ([]string, error) {
	var out []string
	for _, relay := range append([]string{first}, more...) {
		if relay == "" && (len(out) > 0 || len(more) > 0) {
			continue // "" stands for the default address only when nothing else is given
		}
		u, err := dashboardURL(relay)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

func dashboardURL(relay string) (string, error) {
	if relay == "" {
		relay = "ws://127.0.0.1:8080"
	}
	given := relay
	if !strings.Contains(relay, "://") {
		relay = "ws://" + relay
	}
	u, err := url.Parse(relay)
	if err != nil {
		return "", fmt.Errorf("relay address %q: %w", given, err)
	}
	// "http//host" parses, as host "http" and path "//host": refuse what
	// cannot be a relay's address rather than dial something else.
	if u.Host == "" || strings.Contains(u.Path, "//") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("relay address %q is not a relay URL: want ws://HOST:PORT or wss://HOST (http:// and https:// work too)", given)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("relay address %q: scheme must be ws or wss", relay)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = wire.DashboardPath
	}
	return u.String(), nil
}

// loop runs connections one after another until the client ends. It
// starts with s, or, when the first attempt failed with err, by retrying.
// Each attempt goes to the ring's relay: the same one after a stable
// connection, the next after anything else.
func (c *Client) loop(s *session, err error) {
	defer close(c.done)
	defer close(c.events)
	backoff := 100 * time.Millisecond
	last, failed := "", "" // the relay of the last connection; of the last failure ("" for all: Dial tried each)
	if c.ring.Len() == 1 {
		failed = c.ring.Current()
	}
	for {
		if s != nil {
			from := ""
			if last != "" && last != s.url {
				from = last
				c.log.Info("moved to another relay", "from", last, "to", s.url)
			}
			last = s.url
			c.emit(ConnState{State: Connected, Relay: s.url, From: from})
			c.resubscribe(s)
			started := time.Now()
			err = s.run()
			c.detach(err)
			failed = s.url
			if c.ctx.Err() != nil || !c.cfg.Reconnect {
				c.finish(err, failed)
				return
			}
			lasted := time.Since(started)
			if lasted > stableAfter {
				backoff = 100 * time.Millisecond
			}
			c.ring.After(lasted)
		}
		for tried := 1; ; tried++ {
			// The wait grows once per round of the ring, not per
			// attempt: each relay is tried as soon as the first, so a
			// move costs no more than a retry of the same relay.
			wait := backoff/2 + rand.N(backoff/2+1)
			if tried%c.ring.Len() == 0 {
				backoff = min(backoff*2, 5*time.Second)
			}
			next := c.ring.Current()
			c.emit(ConnState{State: Reconnecting, RetryIn: wait, Err: err, Relay: next, Failed: failed})
			select {
			case <-time.After(wait):
			case <-c.ctx.Done():
				c.finish(c.ctx.Err(), "")
				return
			}
			s, err = c.connect(c.ctx, next)
			if err == nil {
				break
			}
			failed = next
			c.log.Debug("reconnect failed", "relay", next, "err", err)
			c.ring.After(0)
		}
	}
}

func (c *Client) finish(err error, relay string) {
	if err == nil || c.ctx.Err() != nil {
		err = ErrClosed
	}
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	c.emit(ConnState{State: Offline, Err: err, Failed: relay})
	c.cancel() // later calls fail with ErrClosed
}

// detach forgets the ended session and fails the requests waiting on it.
func (c *Client) detach(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur = nil
	for id, ch := range c.pending {
		ch <- &wire.Error{Code: "disconnected", Message: fmt.Sprintf("connection lost: %v", err), RequestID: id}
		delete(c.pending, id)
	}
}

// resubscribe asks the new session for every subscription from where it
// left off.
func (c *Client) resubscribe(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, sub := range c.subs {
		sub.from, sub.confirmed = sub.next, false
		s.send(&wire.Subscribe{CommandID: id, Offset: sub.next})
	}
}
