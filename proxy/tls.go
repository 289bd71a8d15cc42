package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"
)

// MinTLSVersion is the oldest TLS version either leg accepts. TLS 1.0 and
// 1.1 are deprecated (RFC 8996); a client or server limited to them fails
// its handshake with the proxy, and a failure on the client leg is counted
// in querylens_tls_handshake_failures_total{leg="client"}.
const MinTLSVersion = tls.VersionTLS12

// UpstreamTLSMode says how the upstream leg uses TLS. Whatever the mode, the
// upstream leg is TLS exactly when the client leg is (see the package doc:
// asymmetric legs break caching_sha2_password full authentication); the
// modes differ in what the proxy demands of the server.
type UpstreamTLSMode uint8

// Upstream TLS modes, named after the MySQL client's --ssl-mode values.
const (
	// UpstreamTLSPreferred uses TLS when the server offers it, without
	// verifying its certificate. The default.
	UpstreamTLSPreferred UpstreamTLSMode = iota
	// UpstreamTLSRequired refuses clients when the server does not offer TLS.
	UpstreamTLSRequired
	// UpstreamTLSVerifyCA is Required plus a certificate chain check against
	// the configured CA.
	UpstreamTLSVerifyCA
	// UpstreamTLSVerifyIdentity is VerifyCA plus a host name check.
	UpstreamTLSVerifyIdentity
	// UpstreamTLSDisabled never uses TLS upstream, so TLS is not offered to
	// clients either.
	UpstreamTLSDisabled
)

var upstreamTLSNames = [...]string{"preferred", "required", "verify-ca", "verify-identity", "disabled"}

func (m UpstreamTLSMode) String() string {
	if int(m) < len(upstreamTLSNames) {
		return upstreamTLSNames[m]
	}
	return "unknown"
}

// ParseUpstreamTLSMode parses "preferred", "required", "verify-ca",
// "verify-identity" or "disabled".
func ParseUpstreamTLSMode(s string) (UpstreamTLSMode, error) {
	for i, n := range upstreamTLSNames {
		if s == n {
			return UpstreamTLSMode(i), nil
		}
	}
	return 0, fmt.Errorf("%q is not one of %s", s, strings.Join(upstreamTLSNames[:], ", "))
}

func (m UpstreamTLSMode) requiresTLS() bool {
	return m == UpstreamTLSRequired || m == UpstreamTLSVerifyCA || m == UpstreamTLSVerifyIdentity
}

// UpstreamTLSConfig builds the client-side TLS configuration for the
// upstream leg. caFile is needed for the verify modes; serverName overrides
// the host of upstream for verify-identity (and SNI).
func UpstreamTLSConfig(mode UpstreamTLSMode, upstream, caFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: MinTLSVersion}
	if serverName == "" {
		if network, addr, err := SplitAddr(upstream); err == nil && network == "tcp" {
			serverName, _, _ = net.SplitHostPort(addr)
		}
	}
	cfg.ServerName = serverName
	switch mode {
	case UpstreamTLSPreferred, UpstreamTLSRequired, UpstreamTLSDisabled:
		// Like the MySQL client's REQUIRED: encrypted, not authenticated.
		cfg.InsecureSkipVerify = true
		return cfg, nil
	}
	if caFile == "" {
		return nil, fmt.Errorf("upstream TLS mode %s needs a CA file", mode)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate found", caFile)
	}
	cfg.RootCAs = pool
	if mode == UpstreamTLSVerifyIdentity {
		if serverName == "" {
			return nil, errors.New("verify-identity needs a server name (the upstream is a unix socket)")
		}
		return cfg, nil
	}
	// verify-ca: check the chain, not the name. crypto/tls has no switch
	// for that, so verification is done by hand.
	cfg.InsecureSkipVerify = true
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("server sent no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, r := range raw {
			c, err := x509.ParseCertificate(r)
			if err != nil {
				return err
			}
			certs[i] = c
		}
		opts := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool()}
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
		_, err := certs[0].Verify(opts)
		return err
	}
	return cfg, nil
}

// ClientTLSConfig builds the server-side TLS configuration offered to
// clients from a certificate and key file, or from a fresh self-signed
// certificate when both are empty. It returns the SHA-256 fingerprint of
// the certificate, for the operator to compare with what clients see.
func ClientTLSConfig(certFile, keyFile string) (*tls.Config, string, error) {
	var cert tls.Certificate
	var err error
	switch {
	case certFile == "" && keyFile == "":
		cert, err = SelfSignedCertificate([]string{"localhost", "127.0.0.1", "::1"}, 365*24*time.Hour)
	case certFile == "" || keyFile == "":
		return nil, "", errors.New("a TLS certificate needs both a certificate and a key file")
	default:
		cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	}
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(cert.Certificate[0])
	return &tls.Config{MinVersion: MinTLSVersion, Certificates: []tls.Certificate{cert}},
		strings.ToUpper(hex.EncodeToString(sum[:])), nil
}

// SelfSignedCertificate makes an ECDSA P-256 certificate for hosts (names
// or IP addresses), valid from now for validity.
func SelfSignedCertificate(hosts []string, validity time.Duration) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "querylens"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
