package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/wire"
)

// Limits of --notify-url: the relay never waits for the receiver. Events
// queue (at most notifyQueue; past it the oldest is dropped and counted)
// for one goroutine that posts them in order, retrying a failed post
// notifyAttempts times in all with growing pauses.
const (
	notifyQueue    = 256
	notifyAttempts = 4
	notifyTimeout  = 5 * time.Second // one post
	notifyPause    = 500 * time.Millisecond
)

// NotifyEvent is the JSON body posted to --notify-url when a command
// starts or stops waiting (docs/awareness.md). Text is a sentence for
// chat webhooks, which show a "text" field.
type NotifyEvent struct {
	Type      string            `json:"type"` // "attention"
	Text      string            `json:"text"`
	Agent     string            `json:"agent"`
	AgentID   string            `json:"agent_id"`
	Labels    map[string]string `json:"labels,omitempty"`
	CommandID string            `json:"command_id"`
	Command   string            `json:"command"` // its command line
	Title     string            `json:"title,omitempty"`
	// Attention is the new state, "" when the command has ended (State
	// says how); Previous the one before.
	Attention wire.Attention    `json:"attention"`
	Previous  wire.Attention    `json:"previous"`
	Reason    string            `json:"reason,omitempty"`
	State     wire.CommandState `json:"state"`
	At        time.Time         `json:"at"`
}

func newNotifyEvent(c wire.Command, a *agentState, prev wire.Attention, at time.Time) NotifyEvent {
	ev := NotifyEvent{Type: "attention", Agent: c.AgentName, AgentID: c.AgentID, CommandID: c.ID,
		Command: c.CommandSpec.Line(), Title: c.Title, Attention: c.Attention, Previous: prev,
		Reason: c.AttentionReason, State: c.State, At: at}
	if a != nil {
		ev.Labels = a.info.Labels
	}
	switch {
	case c.Attention == wire.AttentionWaiting:
		ev.Text = fmt.Sprintf("%s is waiting: %s", c.AgentName, c.AttentionReason)
	case c.State.Final():
		ev.Text = fmt.Sprintf("%s: %s ended (%s)", c.AgentName, ev.Command, c.State)
	default:
		ev.Text = fmt.Sprintf("%s is no longer waiting (%s)", c.AgentName, c.Attention)
	}
	return ev
}

// notifyPoster posts NotifyEvents to one URL. post never blocks; run,
// one goroutine started and ended by Local.Run, does the posting.
type notifyPoster struct {
	url    string
	client *http.Client
	log    *slog.Logger
	posts  *prometheus.CounterVec // result: ok, failed, dropped
	wake   chan struct{}          // capacity 1

	mu    sync.Mutex // a leaf: taken under Local.mu by post
	queue []NotifyEvent
}

// checkNotifyURL refuses a URL that could never be posted to.
func checkNotifyURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("notify URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("notify URL %q: must be an http or https URL with a host", s)
	}
	return nil
}

func newNotifyPoster(url string, log *slog.Logger, reg prometheus.Registerer) *notifyPoster {
	n := &notifyPoster{url: url, client: &http.Client{Timeout: notifyTimeout}, log: log.With("notify_url", url),
		wake: make(chan struct{}, 1),
		posts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_notify_posts_total",
			Help: "Attention events for --notify-url, by result: ok (posted), failed (given up after retries), dropped (the queue was full)."},
			[]string{"result"})}
	reg.MustRegister(n.posts)
	return n
}

// post queues ev, dropping the oldest queued event if the queue is full.
func (n *notifyPoster) post(ev NotifyEvent) {
	n.mu.Lock()
	if len(n.queue) >= notifyQueue {
		n.queue = n.queue[1:]
		n.posts.WithLabelValues("dropped").Inc()
	}
	n.queue = append(n.queue, ev)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifyPoster) next() (NotifyEvent, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) == 0 {
		return NotifyEvent{}, false
	}
	ev := n.queue[0]
	n.queue = n.queue[1:]
	return ev, true
}

// run posts queued events in order until ctx ends; what is still queued
// then is dropped.
func (n *notifyPoster) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		}
		for ev, ok := n.next(); ok && ctx.Err() == nil; ev, ok = n.next() {
			n.deliver(ctx, ev)
		}
	}
}

// deliver posts ev, retrying failures (no answer, 5xx, 429) with pauses
// that double; other answers are final.
func (n *notifyPoster) deliver(ctx context.Context, ev NotifyEvent) {
	body, _ := json.Marshal(ev) // plain data always marshals
	pause := notifyPause
	var err error
	for attempt := 1; attempt <= notifyAttempts; attempt++ {
		var retry bool
		if retry, err = n.postOnce(ctx, body); err == nil {
			n.posts.WithLabelValues("ok").Inc()
			return
		}
		if !retry || attempt == notifyAttempts {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause *= 2
	}
	n.posts.WithLabelValues("failed").Inc()
	n.log.Warn("could not post an attention event", "command_id", ev.CommandID, "attention", ev.Attention, "err", err)
}

func (n *notifyPoster) postOnce(ctx context.Context, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096)) // so the connection is reused
	resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("answered %s", resp.Status)
	}
	return false, fmt.Errorf("answered %s", resp.Status)
}
