package relay

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the relay's Prometheus series. Each relay has its own
// registry, so several relays in one process (tests) do not collide.
type metrics struct {
	registry     *prometheus.Registry
	fellBehind   prometheus.Counter
	commands     *prometheus.CounterVec // final state
	queued       prometheus.Gauge
	storeBatch   prometheus.Histogram // rows per commit
	storeLatency prometheus.Histogram // seconds per commit
	storeErrors  prometheus.Counter
	refused      *prometheus.CounterVec // reason
}

// Connection kinds used as label values.
const (
	kindAgent     = "agent"
	kindDashboard = "dashboard"
)

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		fellBehind: prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_fanout_fell_behind_total",
			Help: "Times a dashboard fell so far behind on a command's output that it left the live fan-out for a paced catch-up."}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_commands_total",
			Help: "Commands that reached a final state, by state."}, []string{"state"}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_commands_queued",
			Help: "Commands waiting in the queue."}),
		storeBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "switchboard_store_batch_rows",
			Help: "Rows written per store commit.", Buckets: prometheus.ExponentialBuckets(1, 4, 10)}),
		storeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "switchboard_store_commit_seconds",
			Help: "Time per store commit.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_store_errors_total",
			Help: "Failed store commits (each is retried)."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_refused_total",
			Help: "Connections and requests refused before authentication, by reason (unauthenticated_limit, auth_failures, host)."}, []string{"reason"}),
	}
	m.registry.MustRegister(m.fellBehind, m.commands, m.queued, m.storeBatch, m.storeLatency, m.storeErrors, m.refused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
