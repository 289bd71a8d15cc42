package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRunDefaultsAndEnv(t *testing.T) {
	t.Setenv("QUERYLENS_UPSTREAM", "unix:/run/mysqld/mysqld.sock")
	t.Setenv("QUERYLENS_MAX_DIGESTS", "77")
	t.Setenv("QUERYLENS_LISTEN", "127.0.0.1:1,unix:/tmp/x.sock")
	cfg, err := parseRun([]string{"--max-digests", "12", "--shutdown-timeout=3s"})
	require.NoError(t, err)
	assert.Equal(t, "unix:/run/mysqld/mysqld.sock", cfg.upstream, "env fills a flag not given")
	assert.Equal(t, 12, cfg.maxDigests, "a flag given wins over env")
	assert.Equal(t, 3*time.Second, cfg.shutdownTimeout)
	assert.Equal(t, []string{"127.0.0.1:1", "unix:/tmp/x.sock"}, cfg.listen)
	assert.Equal(t, "127.0.0.1:9104", cfg.http)
}

func TestBadFlagsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{args: []string{"--max-digests", "lots"}, want: "max-digests"},
		{args: []string{"--upstream", "nohostport"}, want: "-upstream"},
		{args: []string{"--listen", "unix:"}, want: "-listen"},
		{args: []string{"--log-level", "loud"}, want: "-log-level"},
		{args: []string{"--log-format", "xml"}, want: "-log-format"},
		{args: []string{"--shutdown-timeout", "soon"}, want: "shutdown-timeout"},
		{args: []string{"--no-such-flag"}, want: "no-such-flag"},
		{args: nil, env: map[string]string{"QUERYLENS_DIAL_TIMEOUT": "x"}, want: "QUERYLENS_DIAL_TIMEOUT"},
	} {
		t.Run(strings.Join(tc.args, " ")+tc.want, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			err := run(context.Background(), append([]string{"run"}, tc.args...), &out, &errb)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n", "one line")
			assert.Equal(t, 2, exitCode(err))
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"version"}, &out, &out))
	assert.True(t, strings.HasPrefix(out.String(), "querylens "))
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"--help"}, &out, &out))
	assert.Contains(t, out.String(), "--upstream")
	assert.Contains(t, out.String(), "QUERYLENS_UPSTREAM")
	err := run(context.Background(), []string{"frobnicate"}, &out, &out)
	require.Error(t, err)
	assert.Equal(t, 2, exitCode(err))
}
