package proxy_test

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/proxy"
)

var (
	tlsServerOnce sync.Once
	tlsServer     *testdb.Server
	tlsServerCA   string
	tlsServerErr  error
)

// writeCert writes a fresh self-signed certificate for localhost and
// 127.0.0.1 and its key as PEM files in dir.
func writeCert(dir string) (certFile, keyFile string, err error) {
	cert, err := proxy.SelfSignedCertificate([]string{"localhost", "127.0.0.1"}, time.Hour)
	if err != nil {
		return "", "", err
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600)
}

// tlsDB returns a MariaDB started with a certificate made here (the shared
// server has none) and the ed25519 plugin, and the CA file that verifies it.
func tlsDB(t *testing.T) (*testdb.Server, string) {
	t.Helper()
	testdb.Require(t) // skip or fail like every real-server test
	tlsServerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "qltls-")
		if err != nil {
			tlsServerErr = err
			return
		}
		certFile, keyFile, err := writeCert(dir)
		if err != nil {
			tlsServerErr = err
			return
		}
		tlsServerCA = certFile
		tlsServer, tlsServerErr = testdb.Start(testdb.Options{Args: []string{
			"--ssl-cert=" + certFile, "--ssl-key=" + keyFile, "--plugin-load-add=auth_ed25519",
		}})
	})
	require.NoError(t, tlsServerErr)
	return tlsServer, tlsServerCA
}

// startTLSProxy runs a proxy in front of upstream offering clientTLS to
// clients (nil: TLS hidden) with the given upstream mode.
func startTLSProxy(t *testing.T, upstream string, mode proxy.UpstreamTLSMode, ca string, sink proxy.Sink, clientTLS *tls.Config) string {
	t.Helper()
	cfg := testConfig()
	cfg.Upstream = upstream
	cfg.ClientTLS = clientTLS
	cfg.UpstreamTLSMode = mode
	up, err := proxy.UpstreamTLSConfig(mode, upstream, ca, "")
	require.NoError(t, err)
	cfg.UpstreamTLS = up
	srv, err := proxy.New(cfg, sink, zaptest.NewLogger(t), nil)
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func selfSignedClientTLS(t *testing.T) (*tls.Config, string) {
	cfg, sha, err := proxy.ClientTLSConfig("", "")
	require.NoError(t, err)
	return cfg, sha
}

var tlsNameSeq atomic.Int64

// dsnWithTLS registers cfg with go-sql-driver under a fresh name (or uses
// one of its own names: "true", "false", "skip-verify", "preferred").
func dsnWithTLS(t *testing.T, srv *testdb.Server, addr string, cfg *tls.Config, name string) string {
	t.Helper()
	if cfg != nil {
		name = fmt.Sprintf("ql-tls-%d", tlsNameSeq.Add(1))
		require.NoError(t, mysql.RegisterTLSConfig(name, cfg))
	}
	c, err := mysql.ParseDSN(srv.DSN(addr, testdb.Schema))
	require.NoError(t, err)
	c.TLSConfig = name
	return c.FormatDSN()
}

func sslCipher(t *testing.T, db *sql.DB) string {
	t.Helper()
	var name, cipher string
	require.NoError(t, db.QueryRow("SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher))
	return cipher
}

func hasEvent(sink *eventSink, sql string) bool {
	for _, ev := range sink.all() {
		if ev.SQL == sql && ev.Command == protocol.ComQuery && ev.ErrorCode == 0 {
			return true
		}
	}
	return false
}

// TestTLSBothLegs: a TLS client is served the proxy's certificate, the
// server sees a TLS connection (verified against its CA), and the decoder
// sees the statements inside.
func TestTLSBothLegs(t *testing.T) {
	srv, ca := tlsDB(t)
	sink := &eventSink{}
	clientTLS, certSHA := selfSignedClientTLS(t)
	addr := startTLSProxy(t, srv.Addr, proxy.UpstreamTLSVerifyCA, ca, sink, clientTLS)

	var seen atomic.Value
	db, err := sql.Open("mysql", dsnWithTLS(t, srv, addr, &tls.Config{InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			sum := sha256.Sum256(raw[0])
			seen.Store(strings.ToUpper(hex.EncodeToString(sum[:])))
			return nil
		}}, ""))
	require.NoError(t, err)
	defer db.Close()
	assert.NotEmpty(t, sslCipher(t, db), "the server leg is TLS")
	assert.Equal(t, certSHA, seen.Load(), "the client leg is TLS with the proxy's certificate")
	var v int
	require.NoError(t, db.QueryRow("SELECT 40 + 2 AS tls_decoded").Scan(&v))
	assert.Equal(t, 42, v)
	require.NoError(t, db.Close())
	require.Eventually(t, func() bool { return hasEvent(sink, "SELECT 40 + 2 AS tls_decoded") }, 5*time.Second, 10*time.Millisecond)
}

// TestTLSCustomCA: the proxy serves a certificate from files and a client
// verifies it against that CA, host name included.
func TestTLSCustomCA(t *testing.T) {
	srv, ca := tlsDB(t)
	certFile, keyFile, err := writeCert(t.TempDir())
	require.NoError(t, err)
	clientTLS, _, err := proxy.ClientTLSConfig(certFile, keyFile)
	require.NoError(t, err)
	sink := &eventSink{}
	addr := startTLSProxy(t, srv.Addr, proxy.UpstreamTLSVerifyIdentity, ca, sink, clientTLS)

	pemBytes, err := os.ReadFile(certFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pemBytes))
	db, err := sql.Open("mysql", dsnWithTLS(t, srv, addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, ""))
	require.NoError(t, err)
	defer db.Close()
	assert.NotEmpty(t, sslCipher(t, db))

	// A client that trusts some other CA refuses the proxy's certificate.
	other := x509.NewCertPool()
	otherPEM, err := os.ReadFile(ca)
	require.NoError(t, err)
	other.AppendCertsFromPEM(otherPEM)
	bad, err := sql.Open("mysql", dsnWithTLS(t, srv, addr, &tls.Config{RootCAs: other, ServerName: "127.0.0.1"}, ""))
	require.NoError(t, err)
	defer bad.Close()
	err = bad.Ping()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate")
}

// TestTLSMariaDBCLI: the mariadb CLI with --ssl through the proxy, decoded.
func TestTLSMariaDBCLI(t *testing.T) {
	cli, err := exec.LookPath("mariadb")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mariadb CLI missing; install mariadb-client")
		}
		t.Skip("mariadb CLI missing; install mariadb-client")
	}
	srv, ca := tlsDB(t)
	sink := &eventSink{}
	clientTLS, _ := selfSignedClientTLS(t)
	addr := startTLSProxy(t, srv.Addr, proxy.UpstreamTLSVerifyCA, ca, sink, clientTLS)
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command(cli, "--no-defaults", "--ssl", "--ssl-verify-server-cert=0", "-h", host, "-P", port,
		"-u", testdb.User, "-p"+testdb.Password, "--batch", "-e",
		"SHOW SESSION STATUS LIKE 'Ssl_version'; SELECT 'cli over tls' AS t").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "TLSv1.")
	assert.Contains(t, string(out), "cli over tls")
	require.Eventually(t, func() bool { return hasEvent(sink, "SELECT 'cli over tls' AS t") }, 5*time.Second, 10*time.Millisecond)
}

// TestTLSOff: with TLS hidden from clients, a client that requires TLS
// gets a clear error from its driver and a client that prefers it falls
// back to plaintext on both legs.
func TestTLSOff(t *testing.T) {
	srv, ca := tlsDB(t)
	addr := startTLSProxy(t, srv.Addr, proxy.UpstreamTLSVerifyCA, ca, nil, nil)

	req, err := sql.Open("mysql", dsnWithTLS(t, srv, addr, nil, "skip-verify"))
	require.NoError(t, err)
	defer req.Close()
	err = req.Ping()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TLS")

	pref, err := sql.Open("mysql", dsnWithTLS(t, srv, addr, nil, "preferred"))
	require.NoError(t, err)
	defer pref.Close()
	assert.Empty(t, sslCipher(t, pref), "plaintext upstream too: legs stay symmetric")
}

// TestTLSUpstreamWithout: in front of a server without TLS, TLS is not
// offered to clients (so caching_sha2 full auth keeps working); with
// --upstream-tls=required every client gets an error naming the reason.
func TestTLSUpstreamWithout(t *testing.T) {
	srv := testdb.Require(t) // the shared server has no certificate
	clientTLS, _ := selfSignedClientTLS(t)

	addr := startTLSProxy(t, srv.Addr, proxy.UpstreamTLSPreferred, "", nil, clientTLS)
	req, err := sql.Open("mysql", dsnWithTLS(t, srv, addr, nil, "skip-verify"))
	require.NoError(t, err)
	defer req.Close()
	require.Error(t, req.Ping(), "TLS cannot be matched upstream, so it is not offered")
	pref, err := sql.Open("mysql", dsnWithTLS(t, srv, addr, nil, "preferred"))
	require.NoError(t, err)
	defer pref.Close()
	require.NoError(t, pref.Ping())

	strict := startTLSProxy(t, srv.Addr, proxy.UpstreamTLSRequired, "", nil, clientTLS)
	db, err := sql.Open("mysql", srv.DSN(strict, testdb.Schema))
	require.NoError(t, err)
	defer db.Close()
	err = db.Ping()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not offer TLS")
	assert.Contains(t, err.Error(), "querylens")
}

// TestTLSBrokenHandshake: a client that asks for TLS and then sends
// garbage is dropped and counted, and other connections are unaffected.
func TestTLSBrokenHandshake(t *testing.T) {
	srv, ca := tlsDB(t)
	clientTLS, _ := selfSignedClientTLS(t)
	addr := startTLSProxy(t, srv.Addr, proxy.UpstreamTLSVerifyCA, ca, nil, clientTLS)

	good, err := sql.Open("mysql", dsnWithTLS(t, srv, addr, nil, "skip-verify"))
	require.NoError(t, err)
	defer good.Close()
	require.NoError(t, good.Ping())

	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	hdr := make([]byte, 4)
	_, err = c.Read(hdr) // the greeting's header (the rest is read below)
	require.NoError(t, err)
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	body := make([]byte, n)
	_, err = io.ReadFull(c, body)
	require.NoError(t, err)
	ssl := make([]byte, 32)
	caps := uint32(protocol.CapProtocol41 | protocol.CapSSL | protocol.CapSecureConnection | protocol.CapPluginAuth)
	ssl[0], ssl[1], ssl[2], ssl[3] = byte(caps), byte(caps>>8), byte(caps>>16), byte(caps>>24)
	_, err = c.Write(append([]byte{32, 0, 0, 1}, ssl...))
	require.NoError(t, err)
	_, err = c.Write([]byte("this is not a TLS ClientHello at all......"))
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 64))
	assert.Error(t, err, "the proxy closes a connection whose TLS handshake fails")

	var v int
	require.NoError(t, good.QueryRow("SELECT 7").Scan(&v), "other connections carry on")
}

// TestED25519 logs in through the proxy as a MariaDB client_ed25519 user,
// over TLS and in plaintext.
func TestED25519(t *testing.T) {
	srv, ca := tlsDB(t)
	root, err := srv.Root()
	require.NoError(t, err)
	defer root.Close()
	_, err = root.Exec("CREATE USER IF NOT EXISTS 'ed'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('ed-secret')")
	require.NoError(t, err)
	_, err = root.Exec("GRANT ALL ON *.* TO 'ed'@'%'")
	require.NoError(t, err)

	clientTLS, _ := selfSignedClientTLS(t)
	sink := &eventSink{}
	addr := startTLSProxy(t, srv.Addr, proxy.UpstreamTLSVerifyCA, ca, sink, clientTLS)
	for _, mode := range []string{"skip-verify", "false"} {
		c := mysql.NewConfig()
		c.User, c.Passwd, c.Net, c.Addr, c.TLSConfig = "ed", "ed-secret", "tcp", addr, mode
		db, err := sql.Open("mysql", c.FormatDSN())
		require.NoError(t, err)
		var user string
		// go-sql-driver (since 1.9) drops a trailing zero byte from the
		// data of an auth switch, so a login whose 32-byte ed25519
		// scramble ends in 0x00 (one in 256) fails in the client with
		// ErrMalformPkt, with or without a proxy in between: try again.
		for try := 1; ; try++ {
			err = db.QueryRow("SELECT CURRENT_USER()").Scan(&user)
			if !errors.Is(err, mysql.ErrMalformPkt) || try == 3 {
				break
			}
		}
		require.NoError(t, err, mode)
		assert.Equal(t, "ed@%", user)
		db.Close()
	}
	var logins int
	for _, ev := range sink.all() {
		if ev.Command == protocol.ComConnect && ev.User == "ed" && ev.ErrorCode == 0 && !ev.Incomplete {
			logins++
		}
	}
	assert.Equal(t, 2, logins, "both logins decoded")
}
