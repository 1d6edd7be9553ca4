package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/client"
	"switchboard/internal/wire"
)

// dash is a dashboard of the generator: an internal/client connection
// whose events one goroutine consumes, feeding output to stream checks.
type dash struct {
	c *client.Client

	mu       sync.Mutex
	streams  map[string]streamCheck
	received map[string]int64 // command id -> end of the output received
	ended    map[string]int64 // command id -> offset in its output.end
	online   map[string]bool  // agent id -> connected, as the events say
	nOnline  int              // agents connected in online
	drops    []string         // why the connection dropped, each time (the client resumed)
	errs     []string         // errors the relay reported
	wake     chan struct{}    // poked on every output.end
	consumed chan struct{}    // closed when the event channel is drained
}

func dialDash(ctx context.Context, to relayAddr, name string) (*dash, error) {
	dialer := websocket.DefaultDialer
	if to.tls != nil {
		d := *dialer
		d.TLSClientConfig = to.tls
		dialer = &d
	}
	c, err := client.Dial(ctx, client.Config{Relay: to.url, Dialer: dialer, Client: name, Reconnect: true, EventBuffer: 4096})
	if err != nil {
		return nil, err
	}
	d := &dash{c: c, streams: make(map[string]streamCheck), received: make(map[string]int64), ended: make(map[string]int64),
		online: make(map[string]bool), wake: make(chan struct{}, 1), consumed: make(chan struct{})}
	go d.consume()
	return d, nil
}

// consume handles events until the client ends. Output is checked on
// this goroutine, so stream checks need no lock of their own.
func (d *dash) consume() {
	defer close(d.consumed)
	for ev := range d.c.Events() {
		switch ev := ev.(type) {
		case client.Output:
			now := time.Now().UnixNano()
			d.mu.Lock()
			s := d.streams[ev.CommandID]
			d.received[ev.CommandID] = max(d.received[ev.CommandID], ev.Offset+int64(len(ev.Data)))
			d.mu.Unlock()
			if s != nil {
				s.feed(ev.Offset, ev.Data, now)
			}
		case client.Resynced:
			agents := d.c.State().Agents
			d.mu.Lock()
			clear(d.online)
			d.nOnline = 0
			for _, a := range agents {
				d.setOnlineLocked(a)
			}
			d.mu.Unlock()
		case client.AgentChanged:
			d.mu.Lock()
			d.setOnlineLocked(ev.Agent)
			d.mu.Unlock()
		case client.OutputEnd:
			d.mu.Lock()
			d.ended[ev.CommandID] = ev.Offset
			d.mu.Unlock()
			select {
			case d.wake <- struct{}{}:
			default:
			}
		case client.ConnState:
			if ev.State == client.Reconnecting {
				d.mu.Lock()
				d.drops = append(d.drops, fmt.Sprintf("dashboard disconnected: %v", ev.Err))
				d.mu.Unlock()
			}
		case client.ServerError:
			d.mu.Lock()
			d.errs = append(d.errs, "relay error: "+ev.Error.Error())
			d.mu.Unlock()
		}
	}
}

func (d *dash) setOnlineLocked(a wire.Agent) {
	on := a.Status != wire.AgentOffline
	if d.online[a.ID] != on {
		if on {
			d.nOnline++
		} else {
			d.nOnline--
		}
	}
	d.online[a.ID] = on
}

// agentsOnline counts the agents this dashboard sees connected.
func (d *dash) agentsOnline() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nOnline
}

// follow subscribes to a command's output from offset 0, checked by s.
func (d *dash) follow(id string, s streamCheck) error {
	d.mu.Lock()
	d.streams[id] = s
	d.mu.Unlock()
	return d.c.Subscribe(id, 0)
}

// waitReceived waits until every followed stream has received what
// sent says was sent on it.
func (d *dash) waitReceived(ctx context.Context, sent func(id string) int64) error {
	for {
		left := 0
		d.mu.Lock()
		for id := range d.streams {
			if d.received[id] < sent(id) {
				left++
			}
		}
		d.mu.Unlock()
		if left == 0 {
			return nil
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("%d streams did not receive all that was sent: %w", left, ctx.Err())
		}
	}
}

// waitEnded waits until every followed stream has ended.
func (d *dash) waitEnded(ctx context.Context) error {
	for {
		d.mu.Lock()
		left := len(d.streams) - len(d.ended)
		d.mu.Unlock()
		if left <= 0 {
			return nil
		}
		select {
		case <-d.wake:
		case <-ctx.Done():
			return fmt.Errorf("%d streams did not end: %w", left, ctx.Err())
		}
	}
}

// problems checks every followed stream against the bytes sent on it and
// returns what went wrong, stopping the client first.
func (d *dash) problems(sent func(id string) int64) []string {
	d.close()
	var out []string
	for id, s := range d.streams {
		want := sent(id)
		out = append(out, s.result().problems(id, want)...)
		if end, ok := d.ended[id]; !ok {
			out = append(out, fmt.Sprintf("stream %s: no output.end", id))
		} else if end != want {
			out = append(out, fmt.Sprintf("stream %s: output.end at %d, %d bytes sent", id, end, want))
		}
	}
	return out
}

// tally adds up what the stream checks found; call it after problems.
func (d *dash) tally() streamResult {
	var t streamResult
	for _, s := range d.streams {
		r := s.result()
		t.received += r.received
		t.missing += r.missing
		t.repeated += r.repeated
		t.corrupt += r.corrupt
	}
	return t
}

func (d *dash) close() {
	_ = d.c.Close()
	<-d.consumed
}

// dialDashes connects n dashboards in parallel.
func dialDashes(ctx context.Context, to relayAddr, n int) ([]*dash, error) {
	out := make([]*dash, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() { out[i], errs[i] = dialDash(ctx, to, fmt.Sprintf("swbench-%d", i)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, d := range out {
			if d != nil {
				d.close()
			}
		}
		return nil, fmt.Errorf("connect dashboards: %w", err)
	}
	return out, nil
}
