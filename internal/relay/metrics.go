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
	connections  *prometheus.GaugeVec   // kind
	polled       prometheus.Gauge       // connections a read poller reads
	messagesIn   *prometheus.CounterVec // kind, frame (text|binary)
	bytesIn      *prometheus.CounterVec // kind
	messagesOut  *prometheus.CounterVec // kind
	bytesOut     *prometheus.CounterVec // kind
	writes       *prometheus.CounterVec // kind
	queuedMsgs   *prometheus.GaugeVec   // kind
	queuedBytes  *prometheus.GaugeVec   // kind
	disconnects  *prometheus.CounterVec // kind, reason
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
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "switchboard_connections",
			Help: "Open WebSocket connections by kind."}, []string{"kind"}),
		polled: prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_polled_connections",
			Help: "Open connections whose socket a read poller reads; the others have a reader goroutine each."}),
		messagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_messages_in_total",
			Help: "Messages received, by connection kind."}, []string{"kind"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_bytes_in_total",
			Help: "Message bytes received, by connection kind."}, []string{"kind"}),
		messagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_messages_out_total",
			Help: "Messages written, by connection kind."}, []string{"kind"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_bytes_out_total",
			Help: "Message bytes written, by connection kind."}, []string{"kind"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_socket_writes_total",
			Help: "Batches of messages written with one system call, by connection kind: messages out / writes is how well writes are batched."}, []string{"kind"}),
		queuedMsgs: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "switchboard_send_queue_messages",
			Help: "Messages queued to peers and not yet written, summed over the connections of a kind."}, []string{"kind"}),
		queuedBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "switchboard_send_queue_bytes",
			Help: "Message bytes queued to peers and not yet written, summed over the connections of a kind (a peer is cut off at 16 MiB)."}, []string{"kind"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_disconnects_total",
			Help: "Connections closed, by kind and reason (slow_consumer, too_large, replaced, handshake, peer, shutdown)."}, []string{"kind", "reason"}),
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
	m.registry.MustRegister(m.connections, m.polled, m.messagesIn, m.bytesIn, m.messagesOut, m.bytesOut, m.writes, m.queuedMsgs, m.queuedBytes, m.disconnects,
		m.fellBehind, m.commands, m.queued, m.storeBatch, m.storeLatency, m.storeErrors, m.refused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// connMetrics are one connection's counters, resolved once so the hot
// path does no label lookups.
type connMetrics struct {
	kind        string
	open        prometheus.Gauge
	polled      prometheus.Gauge
	messagesIn  prometheus.Counter
	bytesIn     prometheus.Counter
	messagesOut prometheus.Counter
	bytesOut    prometheus.Counter
	writes      prometheus.Counter
	disconnects *prometheus.CounterVec

	queuedMessages prometheus.Gauge
	queuedBytes    prometheus.Gauge
}

func (m *metrics) forKind(kind string) *connMetrics {
	return &connMetrics{
		kind:           kind,
		open:           m.connections.WithLabelValues(kind),
		polled:         m.polled,
		messagesIn:     m.messagesIn.WithLabelValues(kind),
		bytesIn:        m.bytesIn.WithLabelValues(kind),
		messagesOut:    m.messagesOut.WithLabelValues(kind),
		bytesOut:       m.bytesOut.WithLabelValues(kind),
		writes:         m.writes.WithLabelValues(kind),
		queuedMessages: m.queuedMsgs.WithLabelValues(kind),
		queuedBytes:    m.queuedBytes.WithLabelValues(kind),
		disconnects:    m.disconnects,
	}
}

// inCounter is where a connection's incoming messages are counted. A
// poller adds up its sockets' counts and adds the sums once a poll: two
// pollers incrementing the same counters for every message spent 4 % of
// the relay's CPU at S1 on the cache line going back and forth. The zero
// inCounter counts nothing.
type inCounter struct{ msgs, bytes prometheus.Counter }

// add adds what a socket has counted to c.
func (c inCounter) add(msgs, bytes int) {
	c.msgs.Add(float64(msgs))
	c.bytes.Add(float64(bytes))
}
