package proxy_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/proxy"
)

// TestMetricsLint runs client_golang's linter over the relay's metrics.
func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	proxy.NewMetrics(reg)
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	assert.Empty(t, problems)
}

func TestMetricsExported(t *testing.T) {
	reg := prometheus.NewRegistry()
	proxy.NewMetrics(reg)
	n, err := testutil.GatherAndCount(reg, "querylens_tls_handshake_failures_total")
	require.NoError(t, err)
	assert.Equal(t, 2, n, "one series per leg, before any failure")
	n, err = testutil.GatherAndCount(reg, "querylens_connections_rejected_total")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the max_connections series, before any refusal")
}
