package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/proxy"
)

// TestMySQL9 logs in through the proxy to a real MySQL 9 as a
// caching_sha2_password user: with TLS on an empty auth cache (full auth,
// cleartext password inside TLS on both legs), with TLS on the fast path,
// in plaintext with the RSA public-key exchange, and with zstd and zlib
// compression; the mysql 9 client sends every COM_QUERY with the
// query-attributes prefix. Every statement must show up in /api/v1/digests.
// go-sql-driver then connects with tls=skip-verify and with a custom CA.
func TestMySQL9(t *testing.T) {
	my := testdb.StartMySQL9(t)
	dir := t.TempDir()
	certFile, keyFile := writePEMCert(t, dir)
	ql := startQuerylens(t, my.Addr, "--tls-cert", certFile, "--tls-key", keyFile)
	host, port, _ := net.SplitHostPort(ql.listen)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	flush := func() {
		out, err := my.RootClient(ctx, "-e", "FLUSH PRIVILEGES").CombinedOutput()
		require.NoError(t, err, string(out))
	}
	cases := []struct {
		name  string
		flush bool
		args  []string
		want  string
	}{
		{"tls full auth", true, []string{"--ssl-mode=REQUIRED"}, "TLSv1"},
		{"tls fast path", false, []string{"--ssl-mode=REQUIRED"}, "TLSv1"},
		{"plaintext rsa", true, []string{"--ssl-mode=DISABLED", "--get-server-public-key"}, "Ssl_version\t\n"},
		{"zstd", false, []string{"--ssl-mode=DISABLED", "--compression-algorithms=zstd"}, "Ssl_version\t\n"},
		{"zlib", false, []string{"--ssl-mode=DISABLED", "--compression-algorithms=zlib"}, "Ssl_version\t\n"},
	}
	for i, tc := range cases {
		if tc.flush {
			flush()
		}
		args := append([]string{"-h", host, "-P", port, "-u", my.User, "-p" + my.Password, "--batch", "-D", "test",
			"-e", "SHOW SESSION STATUS LIKE 'Ssl_version'; SELECT 'mysql9 case' AS c, " + string(rune('0'+i)) + " AS n"}, tc.args...)
		out, err := my.Client(ctx, args...).CombinedOutput()
		require.NoError(t, err, "%s: %s", tc.name, out)
		assert.Contains(t, string(out), tc.want, tc.name)
		assert.Contains(t, string(out), "mysql9 case", tc.name)
	}

	var found *apiDigest
	require.Eventually(t, func() bool {
		for _, d := range getDigests(t, ql.http, "q=as+c") {
			if strings.Contains(d.Fingerprint, "as c") {
				found = &d
				return d.Count == uint64(len(cases))
			}
		}
		return false
	}, 5*time.Second, 50*time.Millisecond, "every case's SELECT decoded (TLS, RSA, zstd, zlib, query attributes)")
	assert.Equal(t, "select ? as c, ? as n", found.Fingerprint)
	assert.Equal(t, "test", found.Schema)

	// go-sql-driver: TLS without verification, then verifying the proxy's
	// certificate against a CA (here the certificate itself).
	pemBytes, err := os.ReadFile(certFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pemBytes))
	require.NoError(t, mysql.RegisterTLSConfig("ql-mysql9-ca", &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
	for _, mode := range []string{"skip-verify", "ql-mysql9-ca"} {
		flush()
		c := mysql.NewConfig()
		c.User, c.Passwd, c.Net, c.Addr, c.DBName, c.TLSConfig = my.User, my.Password, "tcp", ql.listen, "test", mode
		db, err := sql.Open("mysql", c.FormatDSN())
		require.NoError(t, err)
		var name, version string
		require.NoError(t, db.QueryRow("SHOW SESSION STATUS LIKE 'Ssl_version'").Scan(&name, &version), mode)
		assert.True(t, strings.HasPrefix(version, "TLSv1"), "%s: upstream leg is TLS (%q)", mode, version)
		db.Close()
	}

	// Prepared statements (binary protocol), with and without TLS.
	for _, mode := range []string{"false", "skip-verify"} {
		c := mysql.NewConfig()
		c.User, c.Passwd, c.Net, c.Addr, c.DBName, c.TLSConfig = my.User, my.Password, "tcp", ql.listen, "test", mode
		c.InterpolateParams = false
		db, err := sql.Open("mysql", c.FormatDSN())
		require.NoError(t, err)
		stmt, err := db.Prepare("SELECT ? + 1 AS prepared9, CONCAT(?, 'x') AS s9")
		require.NoError(t, err)
		for i := range 7 {
			var n int
			var str string
			require.NoError(t, stmt.QueryRow(i, "v").Scan(&n, &str), mode)
			assert.Equal(t, i+1, n)
		}
		require.NoError(t, stmt.Close())
		db.Close()
	}
	require.Eventually(t, func() bool {
		for _, d := range getDigests(t, ql.http, "q=prepared9") {
			return d.Count == 14
		}
		return false
	}, 5*time.Second, 50*time.Millisecond, "14 executes of the prepared statement, attributed to its SQL")
}

func writePEMCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	cert, err := proxy.SelfSignedCertificate([]string{"localhost", "127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600))
	return certFile, keyFile
}
