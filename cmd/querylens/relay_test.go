package main

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRelayFlag(t *testing.T) {
	cfg, err := parseRun(nil)
	require.NoError(t, err)
	assert.Equal(t, "event-loop", cfg.relay)

	t.Setenv("QUERYLENS_RELAY", "pumps")
	cfg, err = parseRun(nil)
	require.NoError(t, err)
	assert.Equal(t, "pumps", cfg.relay)

	cfg, err = parseRun([]string{"--relay", "epoll"})
	require.NoError(t, err)
	assert.Equal(t, "epoll", cfg.relay)

	err = run(context.Background(), []string{"--relay", "threads"}, io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-relay")
	assert.Equal(t, 2, exitCode(err))
}
