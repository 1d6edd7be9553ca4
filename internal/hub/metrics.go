package hub

import "github.com/prometheus/client_golang/prometheus"

// metrics are the hub's Prometheus series.
type metrics struct {
	fellBehind   prometheus.Counter
	commands     *prometheus.CounterVec // final state
	storeBatch   prometheus.Histogram   // rows per commit
	storeLatency prometheus.Histogram   // seconds per commit
	storeErrors  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		fellBehind: prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_fanout_fell_behind_total",
			Help: "Times a dashboard fell so far behind on a command's output that it left the live fan-out for a paced catch-up."}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_commands_total",
			Help: "Commands that reached a final state, by state."}, []string{"state"}),
		storeBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "switchboard_store_batch_rows",
			Help: "Rows written per store commit.", Buckets: prometheus.ExponentialBuckets(1, 4, 10)}),
		storeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "switchboard_store_commit_seconds",
			Help: "Time per store commit.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_store_errors_total",
			Help: "Failed store commits (each is retried)."}),
	}
	reg.MustRegister(m.fellBehind, m.commands, m.storeBatch, m.storeLatency, m.storeErrors)
	return m
}
