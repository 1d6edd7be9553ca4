package relay

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the relay's Prometheus registry and its own series. Each
// relay has its own registry, so several relays in one process (tests) do
// not collide.
type metrics struct {
	registry *prometheus.Registry
	refused  *prometheus.CounterVec // reason
}

// Connection kinds used as label values.
const (
	kindAgent     = "agent"
	kindDashboard = "dashboard"
)

// newMetrics makes the relay's registry, which the transport and the hub
// register their series in too, and the relay's own series.
func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_refused_total",
			Help: "Connections and requests refused before authentication, by reason (unauthenticated_limit, auth_failures, host)."}, []string{"reason"}),
	}
	m.registry.MustRegister(m.refused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
