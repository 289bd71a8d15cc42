package proxy_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/proxy"
)

// oldTLSClient speaks TLS 1.0 and 1.1 only, like a client stuck on an
// obsolete library.
func oldTLSClient() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true} //nolint:gosec // the point of the test
}

// handshake runs a TLS handshake between client and server configurations
// over loopback and returns the client's error and the negotiated version.
func handshake(t *testing.T, client, server *tls.Config) (uint16, error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	srvDone := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			srvDone <- err
			return
		}
		defer c.Close()
		srvDone <- tls.Server(c, server).Handshake()
	}()
	raw, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer raw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := tls.Client(raw, client)
	err = c.HandshakeContext(ctx)
	raw.Close()
	<-srvDone
	return c.ConnectionState().Version, err
}

// TestClientLegRefusesOldTLS: the configuration offered to clients (self-
// signed or from files) refuses a TLS 1.1 client. The control run with the
// same certificate and a lowered minimum proves the client really speaks
// TLS 1.1, so the refusal comes from the minimum version.
func TestClientLegRefusesOldTLS(t *testing.T) {
	cfg, _, err := proxy.ClientTLSConfig("", "")
	require.NoError(t, err)
	assert.Equal(t, uint16(proxy.MinTLSVersion), cfg.MinVersion)

	dir := t.TempDir()
	certFile, keyFile, err := writeCert(dir)
	require.NoError(t, err)
	fromFiles, _, err := proxy.ClientTLSConfig(certFile, keyFile)
	require.NoError(t, err)

	for name, c := range map[string]*tls.Config{"self-signed": cfg, "files": fromFiles} {
		_, err := handshake(t, oldTLSClient(), c)
		assert.Error(t, err, "%s: TLS 1.1 client accepted", name)

		v, err := handshake(t, &tls.Config{InsecureSkipVerify: true}, c) //nolint:gosec // test
		require.NoError(t, err, name)
		assert.GreaterOrEqual(t, v, uint16(tls.VersionTLS12))

		lowered := c.Clone()
		lowered.MinVersion = tls.VersionTLS10
		v, err = handshake(t, oldTLSClient(), lowered)
		require.NoError(t, err, "%s: control: the old client must work against a lowered minimum", name)
		assert.Equal(t, uint16(tls.VersionTLS11), v)
	}
}

// TestUpstreamLegRefusesOldTLS: in every upstream mode the proxy refuses a
// server that speaks TLS 1.1 at most, and accepts a TLS 1.2+ server with
// the same certificate.
func TestUpstreamLegRefusesOldTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, err := writeCert(dir)
	require.NoError(t, err)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	oldServer := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	modernServer := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	for _, mode := range []proxy.UpstreamTLSMode{proxy.UpstreamTLSPreferred, proxy.UpstreamTLSRequired, proxy.UpstreamTLSVerifyCA, proxy.UpstreamTLSVerifyIdentity} {
		t.Run(mode.String(), func(t *testing.T) {
			cfg, err := proxy.UpstreamTLSConfig(mode, "127.0.0.1:3306", certFile, "")
			require.NoError(t, err)
			assert.Equal(t, uint16(proxy.MinTLSVersion), cfg.MinVersion)

			_, err = handshake(t, cfg, oldServer)
			assert.Error(t, err, "TLS 1.1 server accepted")

			v, err := handshake(t, cfg, modernServer)
			require.NoError(t, err)
			assert.GreaterOrEqual(t, v, uint16(tls.VersionTLS12))

			lowered := cfg.Clone()
			lowered.MinVersion = tls.VersionTLS10
			v, err = handshake(t, lowered, oldServer)
			require.NoError(t, err, "control: a lowered minimum reaches the old server")
			assert.Equal(t, uint16(tls.VersionTLS11), v)
		})
	}
}

// counterValue reads one labelled series of a counter from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("series %s{%s=%q} not found", name, label, value)
	return 0
}

// sslRequest opens a connection to addr, reads the greeting, checks that
// TLS is offered and sends an SSLRequest, leaving the connection ready for
// the client's TLS handshake.
func sslRequest(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	require.NoError(t, c.SetDeadline(time.Now().Add(15*time.Second)))
	var hdr [4]byte
	_, err = readFull(c, hdr[:])
	require.NoError(t, err)
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	greeting := make([]byte, n)
	_, err = readFull(c, greeting)
	require.NoError(t, err)
	caps, ok := protocol.GreetingCapabilities(greeting)
	require.True(t, ok, "a server greeting")
	require.True(t, caps.Has(protocol.CapSSL), "the proxy offers TLS")

	// SSLRequest: capabilities [4], max packet size [4], charset [1],
	// filler [23]; sequence id 1.
	payload := make([]byte, 32)
	binary.LittleEndian.PutUint32(payload[0:], uint32(protocol.CapProtocol41|protocol.CapSSL|protocol.CapSecureConnection))
	binary.LittleEndian.PutUint32(payload[4:], 1<<24)
	payload[8] = 45 // utf8mb4_general_ci
	pkt := append([]byte{32, 0, 0, 1}, payload...)
	_, err = c.Write(pkt)
	require.NoError(t, err)
	return c
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// TestOldTLSClientRefusedByProxy: against a real MariaDB with TLS, a
// client limited to TLS 1.1 fails its handshake with the proxy's client
// leg and the failure is counted in
// querylens_tls_handshake_failures_total{leg="client"}; a TLS 1.2+ client
// on the same proxy succeeds. The mariadb CLI with --tls-version=TLSv1.1
// fails too, while TLSv1.2 works.
func TestOldTLSClientRefusedByProxy(t *testing.T) {
	db, _ := tlsDB(t)
	reg := prometheus.NewRegistry()
	clientTLS, _, err := proxy.ClientTLSConfig("", "")
	require.NoError(t, err)
	cfg := testConfig()
	cfg.Upstream = db.Addr
	cfg.ClientTLS = clientTLS
	srv, err := proxy.New(cfg, &eventSink{}, zaptest.NewLogger(t), proxy.NewMetrics(reg))
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	addr := l.Addr().String()

	const failures = "querylens_tls_handshake_failures_total"
	before := counterValue(t, reg, failures, "leg", "client")

	c := sslRequest(t, addr)
	tc := tls.Client(c, oldTLSClient())
	err = tc.Handshake()
	c.Close()
	require.Error(t, err, "TLS 1.1 client accepted by the proxy")
	t.Logf("TLS 1.1 client: %v", err)
	require.Eventually(t, func() bool {
		return counterValue(t, reg, failures, "leg", "client") == before+1
	}, 10*time.Second, 10*time.Millisecond, "the refused handshake is counted")
	assert.Equal(t, 0.0, counterValue(t, reg, failures, "leg", "upstream"), "the upstream leg (TLS 1.2+) was fine")

	c = sslRequest(t, addr)
	tc = tls.Client(c, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test
	require.NoError(t, tc.Handshake(), "a modern client on the same proxy")
	assert.GreaterOrEqual(t, tc.ConnectionState().Version, uint16(tls.VersionTLS12))
	c.Close()
	assert.Equal(t, before+1, counterValue(t, reg, failures, "leg", "client"))

	cli, err := exec.LookPath("mariadb")
	if err != nil {
		if testdb.Binary() != "" {
			t.Fatal("mariadb CLI missing next to mariadbd; install mariadb-client")
		}
		t.Skip("no mariadb CLI")
	}
	host, port, _ := net.SplitHostPort(addr)
	cliRun := func(version string) (string, error) {
		out, err := exec.Command(cli, "--no-defaults", "-h", host, "-P", port, "-u", testdb.User,
			"-p"+testdb.Password, "--ssl", "--tls-version="+version, "--batch",
			"-e", "SHOW SESSION STATUS LIKE 'Ssl_version'").CombinedOutput()
		return string(out), err
	}
	out, err := cliRun("TLSv1.2")
	require.NoError(t, err, "control: the CLI with TLSv1.2: %s", out)
	assert.Contains(t, out, "Ssl_version\tTLSv1.", "the session is TLS (the server reports its own leg)")
	out, err = cliRun("TLSv1.1")
	require.Error(t, err, "the CLI with TLSv1.1 must not connect: %s", out)
	t.Logf("mariadb --tls-version=TLSv1.1: %s", out)
	// The refusal is the proxy's: the client received a protocol_version
	// alert, and the failure was counted.
	assert.Contains(t, out, "protocol version")
	require.Eventually(t, func() bool {
		return counterValue(t, reg, failures, "leg", "client") == before+2
	}, 10*time.Second, 10*time.Millisecond, "the CLI's refused handshake is counted")
}
