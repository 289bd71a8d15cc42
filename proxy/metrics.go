package proxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/querylens/querylens/protocol"
)

// rejectMaxConnections is the querylens_connections_rejected_total reason
// for clients over Config.MaxConnections.
const rejectMaxConnections = "max_connections"

// Metrics are the relay's own counters. Per-statement numbers come from the
// stats package; these describe connections and bytes.
type Metrics struct {
	connsOpen         prometheus.Gauge
	connsTotal        prometheus.Counter
	upstreamErrors    prometheus.Counter
	handshakeFailures prometheus.Counter
	clientBytes       prometheus.Counter // client → server
	serverBytes       prometheus.Counter // server → client
	decodeErrors      prometheus.Counter
	decoderPanics     prometheus.Counter
	acceptErrors      prometheus.Counter
	rejected          *prometheus.CounterVec
	tlsFailures       *prometheus.CounterVec
	tlsConns          prometheus.Counter
	relayLoop         prometheus.Counter // relayed by an event loop
	relayPumps        prometheus.Counter // relayed by two goroutines
}

// NewMetrics creates the relay metrics and registers them with reg (which
// may be nil for no registration).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "querylens_relay_bytes_total",
		Help: "Bytes relayed, by direction (client_to_server, server_to_client).",
	}, []string{"direction"})
	relayed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "querylens_relayed_connections_total",
		Help: "Logged-in connections by how they were relayed (event_loop; pumps: TLS, or the pumps relay chosen).",
	}, []string{"relay"})
	m := &Metrics{
		relayLoop:  relayed.WithLabelValues("event_loop"),
		relayPumps: relayed.WithLabelValues("pumps"),
		connsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "querylens_connections_open",
			Help: "Client connections currently open.",
		}),
		connsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "querylens_connections_total",
			Help: "Client connections accepted.",
		}),
		upstreamErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "querylens_upstream_dial_errors_total",
			Help: "Upstream connections that could not be established (refused, timed out, or no greeting); the client received an ERR packet.",
		}),
		handshakeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "querylens_handshake_failures_total",
			Help: "Logins the server refused with an ERR packet.",
		}),
		clientBytes: bytes.WithLabelValues("client_to_server"),
		serverBytes: bytes.WithLabelValues("server_to_client"),
		decodeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "querylens_decode_errors_total",
			Help: "Connections whose traffic the decoder could not follow; they are still relayed unchanged.",
		}),
		decoderPanics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "querylens_decoder_panics_total",
			Help: "Decoder panics recovered; decoding stopped for that connection, relaying went on.",
		}),
		acceptErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "querylens_accept_errors_total",
			Help: "Errors returned by accept on a listener.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "querylens_connections_rejected_total",
			Help: "Client connections refused without being relayed, by reason (max_connections: the client got error 1040).",
		}, []string{"reason"}),
		tlsFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "querylens_tls_handshake_failures_total",
			Help: "TLS handshakes that failed, by leg (client, upstream).",
		}, []string{"leg"}),
		tlsConns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "querylens_tls_connections_total",
			Help: "Connections relayed with TLS on both legs.",
		}),
	}
	// Create both legs' series up front so they are exported (as 0) before
	// the first failure.
	m.tlsFailures.WithLabelValues("client")
	m.tlsFailures.WithLabelValues("upstream")
	m.rejected.WithLabelValues(rejectMaxConnections)
	if reg != nil {
		reg.MustRegister(m.connsOpen, m.connsTotal, m.upstreamErrors, m.handshakeFailures,
			bytes, m.decodeErrors, m.decoderPanics, m.acceptErrors, m.rejected, m.tlsFailures, m.tlsConns, relayed)
	}
	return m
}

// relayedBytes is the byte counter of direction dir.
func (m *Metrics) relayedBytes(dir protocol.Direction) prometheus.Counter {
	if dir == protocol.FromClient {
		return m.clientBytes
	}
	return m.serverBytes
}
