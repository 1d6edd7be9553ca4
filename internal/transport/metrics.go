package transport

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the connections' Prometheus series, registered in the
// registry an Engine is given.
type metrics struct {
	connections *prometheus.GaugeVec   // kind
	polled      prometheus.Gauge       // connections a read poller reads
	messagesIn  *prometheus.CounterVec // kind
	bytesIn     *prometheus.CounterVec // kind
	messagesOut *prometheus.CounterVec // kind
	bytesOut    *prometheus.CounterVec // kind
	writes      *prometheus.CounterVec // kind
	queuedMsgs  *prometheus.GaugeVec   // kind
	queuedBytes *prometheus.GaugeVec   // kind
	disconnects *prometheus.CounterVec // kind, reason

	mu     sync.Mutex
	byKind map[string]*connMetrics
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
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
		byKind: make(map[string]*connMetrics),
	}
	reg.MustRegister(m.connections, m.polled, m.messagesIn, m.bytesIn, m.messagesOut, m.bytesOut, m.writes,
		m.queuedMsgs, m.queuedBytes, m.disconnects)
	return m
}

// connMetrics are one kind of connection's counters, resolved once so the
// hot path does no label lookups.
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
	m.mu.Lock()
	defer m.mu.Unlock()
	if cm := m.byKind[kind]; cm != nil {
		return cm
	}
	cm := &connMetrics{
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
	m.byKind[kind] = cm
	return cm
}

// inCounter is where a connection's incoming messages are counted. A
// poller adds up its sockets' counts and adds the sums once a poll, so
// that pollers do not contend on the same counters for every message.
// The zero inCounter counts nothing.
type inCounter struct{ msgs, bytes prometheus.Counter }

// add adds what a socket has counted to c.
func (c inCounter) add(msgs, bytes int) {
	c.msgs.Add(float64(msgs))
	c.bytes.Add(float64(bytes))
}
