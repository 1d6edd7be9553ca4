package hub

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// With nobody posting, the queue keeps the newest notifyQueue events and
// counts the rest as dropped.
func TestNotifyQueueDropsTheOldest(t *testing.T) {
	n := newNotifyPoster("http://127.0.0.1:1/", slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	for i := range notifyQueue + 44 {
		n.post(NotifyEvent{CommandID: fmt.Sprint(i)})
	}
	var m dto.Metric
	if err := n.posts.WithLabelValues("dropped").Write(&m); err != nil || m.GetCounter().GetValue() != 44 {
		got := m.GetCounter().GetValue()
		t.Fatalf("dropped %v", got)
	}
	first, ok := n.next()
	if !ok || first.CommandID != "44" || len(n.queue) != notifyQueue-1 {
		t.Fatalf("first %+v, %d left", first, len(n.queue))
	}
}

func TestCheckNotifyURL(t *testing.T) {
	for u, ok := range map[string]bool{"https://ntfy.sh/x": true, "http://127.0.0.1:9/hook": true,
		"ftp://x": false, "https://": false, "not a url\x00": false, "/relative": false} {
		if err := checkNotifyURL(u); (err == nil) != ok {
			t.Errorf("checkNotifyURL(%q) = %v", u, err)
		}
	}
}
