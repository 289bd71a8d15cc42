package main

import (
	"bytes"
	"context"
	"crypto/sha1" //nolint:gosec // mysql_native_password is SHA-1 based; computed to look for it
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/querylens/querylens/internal/testdb"
)

// Distinctive values the secrets test plants and then looks for. Passwords
// and file contents must never surface; literals only with --log-literals.
const (
	pwNative    = "Pw-7f3a9c-SECRET" // mysql_native_password login
	pwSecond    = "Pw-2b8e41-SECRET" // COM_CHANGE_USER target
	pwWrong     = "Pw-0d5f17-WRONG"  // refused login and refused change of user
	pwSHA2      = "Pw-c9d2e7-SECRET" // MySQL 9 caching_sha2_password
	fileToken   = "File-tok-a1b2c3d4"
	litString   = "Lit-str-4e9d1a"
	litNumber   = "918273645"
	litComment  = "Lit-cmt-77c3f0"
	litDup      = "Lit-dup-1f6e3d" // quoted back by the server's duplicate-key error
	litParam    = "Lit-prm-5c2b8a" // a prepared statement's parameter
	litParamNum = "736251849"
	lit9String  = "Lit9-str-8d7c6b" // through MySQL 9
)

// needle is one encoding of one secret.
type needle struct {
	what  string // e.g. "password Pw-... as sha1 hex"
	kind  string // "secret" (never allowed) or "literal" (allowed with --log-literals)
	bytes []byte
}

// needles collects the encodings the scan looks for.
type needles struct {
	list []needle
	seen map[string]bool
}

func (n *needles) add(kind, what string, b []byte) {
	if len(b) == 0 {
		return
	}
	if n.seen == nil {
		n.seen = map[string]bool{}
	}
	key := kind + "\x00" + string(b)
	if n.seen[key] {
		return
	}
	n.seen[key] = true
	n.list = append(n.list, needle{what: what, kind: kind, bytes: append([]byte(nil), b...)})
}

// addBytes adds b raw and in the encodings a log line or a JSON document
// would give it: hex (both cases), base64 (the core that stays the same
// whatever b's offset inside a larger buffer), Go quoting, JSON quoting
// and fmt's byte-list form.
func (n *needles) addBytes(kind, what string, b []byte) {
	n.add(kind, what+" raw", b)
	n.add(kind, what+" hex", []byte(hex.EncodeToString(b)))
	n.add(kind, what+" HEX", []byte(strings.ToUpper(hex.EncodeToString(b))))
	for off := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, off), b...))
		start := 0
		if off > 0 {
			start = 4
		}
		if end := len(enc) - 4; end-start >= 8 {
			n.add(kind, fmt.Sprintf("%s base64@%d", what, off), []byte(enc[start:end]))
		}
	}
	q := strconv.Quote(string(b))
	n.add(kind, what+" go-quoted", []byte(q[1:len(q)-1]))
	j, _ := json.Marshal(string(b))
	n.add(kind, what+" json", j[1:len(j)-1])
	n.add(kind, what+" byte list", []byte(strings.Trim(fmt.Sprint(b), "[]")))
}

func sha1Sum(b ...[]byte) []byte {
	h := sha1.New() //nolint:gosec // see import
	for _, p := range b {
		h.Write(p)
	}
	return h.Sum(nil)
}

func sha256Sum(b ...[]byte) []byte {
	h := sha256.New()
	for _, p := range b {
		h.Write(p)
	}
	return h.Sum(nil)
}

func xorBytes(a, b []byte) []byte {
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}

// nativeScramble is mysql_native_password's auth response:
// SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw))).
func nativeScramble(pw string, nonce []byte) []byte {
	h1 := sha1Sum([]byte(pw))
	return xorBytes(h1, sha1Sum(nonce, sha1Sum(h1)))
}

// sha2Scramble is caching_sha2_password's fast-path auth response:
// SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce).
func sha2Scramble(pw string, nonce []byte) []byte {
	h1 := sha256Sum([]byte(pw))
	return xorBytes(h1, sha256Sum(sha256Sum(h1), nonce))
}

// addPassword adds a password and the hashes derived from it that either
// plugin ever puts on the wire or in mysql.user.
func (n *needles) addPassword(pw string) {
	n.addBytes("secret", "password "+pw, []byte(pw))
	n.addBytes("secret", "sha1(password) "+pw, sha1Sum([]byte(pw)))
	n.addBytes("secret", "sha1(sha1(password)) "+pw, sha1Sum(sha1Sum([]byte(pw))))
	n.addBytes("secret", "sha256(password) "+pw, sha256Sum([]byte(pw)))
	n.addBytes("secret", "sha256(sha256(password)) "+pw, sha256Sum(sha256Sum([]byte(pw))))
}

// recorder is a loopback TCP relay in front of the proxy that keeps a copy
// of every byte of every connection, so the test can compute the nonces
// the server sent and the auth responses the clients answered with.
type recorder struct {
	l     net.Listener
	mu    sync.Mutex
	conns []*recordedConn
	wg    sync.WaitGroup
}

type recordedConn struct {
	mu       sync.Mutex
	toServer bytes.Buffer
	toClient bytes.Buffer
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startRecorder(t *testing.T, target string) *recorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &recorder{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			rc := &recordedConn{}
			r.mu.Lock()
			r.conns = append(r.conns, rc)
			r.mu.Unlock()
			r.wg.Add(2)
			pump := func(dst, src net.Conn, copy *bytes.Buffer) {
				defer r.wg.Done()
				_, _ = io.Copy(io.MultiWriter(dst, lockedWriter{&rc.mu, copy}), src)
				dst.Close()
				src.Close()
			}
			go pump(up, c, &rc.toServer)
			go pump(c, up, &rc.toClient)
		}
	}()
	t.Cleanup(func() { l.Close(); r.wg.Wait() })
	return r
}

func (r *recorder) addr() string { return r.l.Addr().String() }

// streams returns copies of what each connection sent so far.
func (r *recorder) streams() (toServer, toClient [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.mu.Lock()
		toServer = append(toServer, bytes.Clone(c.toServer.Bytes()))
		toClient = append(toClient, bytes.Clone(c.toClient.Bytes()))
		c.mu.Unlock()
	}
	return toServer, toClient
}

// packets frames a plaintext stream into packet payloads; it stops where
// the stream stops being plaintext MySQL (TLS records frame as oversized
// packets).
func packets(stream []byte) [][]byte {
	var out [][]byte
	for len(stream) >= 4 {
		n := int(stream[0]) | int(stream[1])<<8 | int(stream[2])<<16
		if 4+n > len(stream) {
			break
		}
		out = append(out, stream[4:4+n])
		stream = stream[4+n:]
	}
	return out
}

// nonces returns the auth nonces in a server-to-client stream: the
// greeting's (always plaintext) and those of auth switch requests that
// travel in plaintext.
func nonces(stream []byte) [][]byte {
	var out [][]byte
	for i, p := range packets(stream) {
		if i == 0 && len(p) > 0 && p[0] == 10 { // protocol v10 greeting
			end := bytes.IndexByte(p[1:], 0)
			if end < 0 {
				continue
			}
			pos := 1 + end + 1 + 4 // version, NUL, connection id [4]
			if pos+8 > len(p) {
				continue
			}
			nonce := append([]byte(nil), p[pos:pos+8]...)
			pos += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10 // part 1, filler, caps, charset, status, caps, length, reserved
			if pos+12 <= len(p) {
				nonce = append(nonce, p[pos:pos+12]...)
			}
			out = append(out, nonce)
			continue
		}
		if len(p) > 1 && p[0] == 0xfe { // auth switch request: plugin NUL data
			end := bytes.IndexByte(p[1:], 0)
			if end <= 0 {
				continue
			}
			switch string(p[1 : 1+end]) {
			case "mysql_native_password", "caching_sha2_password":
				out = append(out, bytes.TrimRight(p[1+end+1:], "\x00"))
			}
		}
	}
	return out
}

// addScrambles adds the auth responses every password would give to every
// nonce seen, and returns them.
func (n *needles) addScrambles(rec *recorder, passwords ...string) [][]byte {
	_, toClient := rec.streams()
	var all [][]byte
	for _, s := range toClient {
		for _, nonce := range nonces(s) {
			for _, pw := range passwords {
				for name, sc := range map[string][]byte{
					"native": nativeScramble(pw, nonce), "sha2": sha2Scramble(pw, nonce),
				} {
					n.addBytes("secret", fmt.Sprintf("%s scramble of %s", name, pw), sc)
					all = append(all, sc)
				}
			}
		}
	}
	return all
}

// artifacts are the named outputs of one proxy run to scan.
type artifacts map[string][]byte

// scan returns, for each needle found, where.
func scan(a artifacts, ns *needles) map[string][]string {
	found := map[string][]string{}
	names := make([]string, 0, len(a))
	for name := range a {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, nd := range ns.list {
		for _, name := range names {
			if bytes.Contains(a[name], nd.bytes) {
				found[nd.what] = append(found[nd.what], name)
			}
		}
	}
	return found
}

// collectHTTP fetches every endpoint of the stats server: /metrics,
// /healthz, the digest list, each digest, the overflow entry, the
// snapshot, the findings, the dashboard with its static files and any API
// path they mention.
func collectHTTP(t *testing.T, httpAddr string, a artifacts) {
	t.Helper()
	base := "http://" + httpAddr
	get := func(path string) []byte {
		resp, err := http.Get(base + path)
		require.NoError(t, err, path)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err, path)
		a["GET "+path] = b
		return b
	}
	for _, p := range []string{"/metrics", "/healthz", "/api/v1/snapshot", "/api/v1/digests/overflow", "/api/v1/findings"} {
		get(p)
	}
	var list struct {
		Digests []struct {
			Digest string `json:"digest"`
		} `json:"digests"`
	}
	require.NoError(t, json.Unmarshal(get("/api/v1/digests?limit=10000"), &list))
	require.NotEmpty(t, list.Digests)
	for _, d := range list.Digests {
		get("/api/v1/digests/" + d.Digest)
	}
	// The dashboard, its static files, and every API path they call.
	pages := [][]byte{get("/")}
	for _, m := range regexp.MustCompile(`(?:src|href)="/?(static/[^"?#]+)`).FindAllSubmatch(pages[0], -1) {
		if _, done := a["GET /"+string(m[1])]; !done {
			pages = append(pages, get("/"+string(m[1])))
		}
	}
	for _, page := range pages {
		for _, m := range regexp.MustCompile(`api/v1/[a-z_]+`).FindAll(page, -1) {
			p := "/" + string(m)
			if _, done := a["GET "+p]; !done && p != "/api/v1/reset" {
				get(p)
			}
		}
	}
}

// secretsWorkload is what the MariaDB half of the test does through addr.
func secretsWorkload(t *testing.T, srv *testdb.Server, addr, dataFile string) {
	t.Helper()
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = "sec_native", pwNative, "tcp", addr, "secrets_db"
	c.AllowNativePasswords = true
	c.InterpolateParams = false // prepared statements really are prepared
	db, err := sql.Open("mysql", c.FormatDSN())
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1)

	var s string
	var n int64
	require.NoError(t, db.QueryRow("SELECT '"+litString+"' AS s, "+litNumber+" AS n /* "+litComment+" */").Scan(&s, &n))
	require.Equal(t, litString, s)
	_, err = db.Exec("INSERT INTO t (v) VALUES ('" + litDup + "')")
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO t (v) VALUES ('" + litDup + "')")
	require.ErrorContains(t, err, litDup, "the server quotes the literal back")
	stmt, err := db.Prepare("SELECT CONCAT(?, '-x') AS p, ? + 1 AS q")
	require.NoError(t, err)
	paramNum, err := strconv.ParseInt(litParamNum, 10, 64)
	require.NoError(t, err)
	require.NoError(t, stmt.QueryRow(litParam, paramNum).Scan(&s, &n)) // binary protocol: an 8-byte integer
	require.Equal(t, litParam+"-x", s)
	require.NoError(t, stmt.Close())

	mysql.RegisterLocalFile(dataFile)
	defer mysql.DeregisterLocalFile(dataFile)
	res, err := db.Exec("LOAD DATA LOCAL INFILE '" + dataFile + "' INTO TABLE f (a, b)")
	require.NoError(t, err)
	rows, _ := res.RowsAffected()
	require.Equal(t, int64(2), rows)
	require.NoError(t, db.Close())

	// A refused login.
	c.Passwd = pwWrong
	bad, err := sql.Open("mysql", c.FormatDSN())
	require.NoError(t, err)
	err = bad.Ping()
	bad.Close()
	require.ErrorContains(t, err, "1045")
}

// changeUserScript logs in, changes user with COM_CHANGE_USER (mysql2's
// changeUser), then tries a wrong password.
const changeUserScript = `'use strict';
const mysql = require('mysql2/promise');
async function main() {
  const conn = await mysql.createConnection({host: process.env.QL_HOST, port: Number(process.env.QL_PORT),
    user: 'sec_native', password: process.env.QL_PW1, database: 'secrets_db'});
  await conn.changeUser({user: 'sec_second', password: process.env.QL_PW2, database: 'secrets_db'});
  const [rows] = await conn.query('SELECT CURRENT_USER() AS u');
  console.log(JSON.stringify(rows[0]));
  try {
    await conn.changeUser({user: 'sec_second', password: process.env.QL_PW3});
    console.log(JSON.stringify({unexpected: 'wrong password accepted'}));
  } catch (e) {
    console.log(JSON.stringify({change_user_error: e.errno}));
  }
  await conn.end().catch(() => {});
}
main().catch((e) => { console.error(e); process.exit(1); });
`

// changeUser runs the mysql2 script through addr; it skips (fails in CI)
// when node or mysql2 is missing.
func changeUser(t *testing.T, addr string) {
	t.Helper()
	node, err := exec.LookPath("node")
	modules, _ := filepath.Abs(filepath.Join("..", "..", "internal", "clients", "testdata", "node", "node_modules"))
	if _, statErr := os.Stat(filepath.Join(modules, "mysql2")); err != nil || statErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node or mysql2 missing (npm ci --prefix internal/clients/testdata/node): %v %v", err, statErr)
		}
		t.Skip("node or mysql2 missing: the COM_CHANGE_USER part cannot run; npm ci --prefix internal/clients/testdata/node")
	}
	script := filepath.Join(t.TempDir(), "changeuser.js")
	require.NoError(t, os.WriteFile(script, []byte(changeUserScript), 0o600))
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "QL_HOST="+host, "QL_PORT="+port,
		"QL_PW1="+pwNative, "QL_PW2="+pwSecond, "QL_PW3="+pwWrong)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "node: %s", out)
	require.Contains(t, string(out), `"u":"sec_second@%"`, "the change of user happened")
	require.Contains(t, string(out), `"change_user_error":1045`, "the wrong password was refused")
}

// runAndCollect stops ql and gathers everything it wrote: its process
// log, the query log (with rotated files) and the state file, plus what
// HTTP served before the stop.
func runAndCollect(t *testing.T, ql *instance, dir string, a artifacts) {
	t.Helper()
	collectHTTP(t, ql.http, a)
	require.NoError(t, ql.stop())
	a["process log"] = []byte(ql.logs.String())
	logs, _ := filepath.Glob(filepath.Join(dir, "queries*.log"))
	require.NotEmpty(t, logs)
	for _, p := range logs {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		a["query log "+filepath.Base(p)] = b
	}
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	require.NoError(t, err, "state file written at shutdown")
	a["state file"] = b
}

// secretArgs are the flags of a proxy run whose outputs go to dir: debug
// logs (console, or JSON with literals on, so both encoders are scanned),
// a query log taking every statement, and a state file.
func secretArgs(dir string, literals bool) []string {
	args := []string{"--query-log", filepath.Join(dir, "queries.log"), "--query-log-sample", "1",
		"--state-file", filepath.Join(dir, "state.json")}
	if literals {
		args = append(args, "--log-literals", "--log-format", "json")
	}
	return args
}

// newNeedles returns the passwords (with their hashes), the file token and
// the literals.
func newNeedles() *needles {
	ns := &needles{}
	for _, pw := range []string{pwNative, pwSecond, pwWrong, pwSHA2} {
		ns.addPassword(pw)
	}
	ns.addBytes("secret", "file token", []byte(fileToken))
	for _, l := range []string{litString, litNumber, litComment, litDup, litParam, litParamNum, lit9String} {
		ns.addBytes("literal", "literal "+l, []byte(l))
	}
	return ns
}

// checkLeaks fails the test for every secret found, and for every literal
// found unless literals are on; with literals on, each of wantLiterals
// must be found (so the scan is shown able to fail).
func checkLeaks(t *testing.T, a artifacts, ns *needles, literals bool, wantLiterals ...string) {
	t.Helper()
	found := scan(a, ns)
	var leaks []string
	litFound := map[string]bool{}
	for _, nd := range ns.list {
		where := found[nd.what]
		if len(where) == 0 {
			continue
		}
		if nd.kind == "secret" || !literals {
			leaks = append(leaks, fmt.Sprintf("%s in %s", nd.what, strings.Join(where, ", ")))
		}
		if nd.kind == "literal" {
			litFound[strings.Fields(nd.what)[1]] = true
		}
	}
	assert.Empty(t, leaks, "leaked")
	if literals {
		for _, l := range wantLiterals {
			assert.True(t, litFound[l], "--log-literals: %s should appear somewhere", l)
		}
	}
	var names []string
	for k := range a {
		names = append(names, fmt.Sprintf("%s (%d bytes)", k, len(a[k])))
	}
	sort.Strings(names)
	t.Logf("scanned %d needles in %d artifacts: %s", len(ns.list), len(a), strings.Join(names, "; "))
}

// TestSecretsNeverLeak (issue 10, point 5) logs in through the proxy in
// every way MariaDB offers that carries a password: mysql_native_password,
// a refused login, COM_CHANGE_USER (mysql2) with a good and a wrong
// password. It sends LOAD DATA LOCAL INFILE of a file with a distinctive
// token and statements with distinctive literals (a string, a number, a
// comment, a duplicate-key error quoting a value, a prepared statement's
// parameters), at --log-level debug with the query log taking every
// statement and a state file. Then it scans the process log, the query
// log, every HTTP endpoint and the state file for the passwords (raw and
// hashed), the auth responses actually sent (computed from the recorded
// nonces and checked against the recorded bytes, so the scan looks for
// what really crossed the wire), the file token and the literals, in raw,
// hex, base64 and quoted forms. Rerun with --log-literals, the literals of
// text statements must appear (so the scan can fail) while passwords, auth
// bytes and file contents still must not.
func TestSecretsNeverLeak(t *testing.T) {
	srv := testdb.Require(t)
	root, err := srv.Root()
	require.NoError(t, err)
	defer root.Close()
	for _, q := range []string{
		"DROP DATABASE IF EXISTS secrets_db",
		"CREATE DATABASE secrets_db",
		"CREATE TABLE secrets_db.t (v VARCHAR(64) PRIMARY KEY)",
		"CREATE TABLE secrets_db.f (a VARCHAR(64), b INT)",
		"DROP USER IF EXISTS 'sec_native'@'%', 'sec_second'@'%'",
		"CREATE USER 'sec_native'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('" + pwNative + "')",
		"CREATE USER 'sec_second'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('" + pwSecond + "')",
		"GRANT ALL ON secrets_db.* TO 'sec_native'@'%'",
		"GRANT ALL ON secrets_db.* TO 'sec_second'@'%'",
	} {
		_, err := root.Exec(q)
		require.NoError(t, err, q)
	}

	for _, literals := range []bool{false, true} {
		t.Run(fmt.Sprintf("log-literals=%v", literals), func(t *testing.T) {
			_, err := root.Exec("TRUNCATE secrets_db.t")
			require.NoError(t, err)
			dir := t.TempDir()
			dataFile := filepath.Join(dir, "rows.tsv")
			require.NoError(t, os.WriteFile(dataFile, []byte(fileToken+"\t1\nsecond-"+fileToken+"\t2\n"), 0o600))

			ns := newNeedles()
			ql := startQuerylens(t, srv.Addr, secretArgs(dir, literals)...)
			rec := startRecorder(t, ql.listen)
			secretsWorkload(t, srv, rec.addr(), dataFile)
			changeUser(t, rec.addr())
			scrambles := ns.addScrambles(rec, pwNative, pwSecond, pwWrong)
			assertSentOnWire(t, rec, scrambles, "mysql_native_password auth responses")
			toServer, _ := rec.streams()
			require.Contains(t, string(bytes.Join(toServer, nil)), fileToken, "the file crossed the proxy")

			a := artifacts{}
			runAndCollect(t, ql, dir, a)
			// Prepared statement parameters may stay out even with
			// literals on: samples are statement text.
			checkLeaks(t, a, ns, literals, litString, litNumber, litComment, litDup)
		})
	}
}

// TestSecretsNeverLeakMySQL9 is TestSecretsNeverLeak's caching_sha2_password
// half, against MySQL 9: full authentication inside TLS (the proxy
// decrypts, so the cleartext password passes through its decoder), the
// plaintext fast path, full authentication with the server's RSA key, and
// a refused password. It skips loudly when MySQL 9 cannot be set up.
func TestSecretsNeverLeakMySQL9(t *testing.T) {
	my := testdb.StartMySQL9(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := my.RootClient(ctx, "-e",
		"CREATE USER 'sec_sha2'@'%' IDENTIFIED WITH caching_sha2_password BY '"+pwSHA2+"'; GRANT ALL ON *.* TO 'sec_sha2'@'%'").CombinedOutput()
	require.NoError(t, err, string(out))

	for _, literals := range []bool{false, true} {
		t.Run(fmt.Sprintf("log-literals=%v", literals), func(t *testing.T) {
			dir := t.TempDir()
			ns := newNeedles()
			ql := startQuerylens(t, my.Addr, secretArgs(dir, literals)...)
			rec := startRecorder(t, ql.listen)
			mysql9Logins(t, my, rec.addr())
			scrambles := ns.addScrambles(rec, pwSHA2, pwWrong)
			assertSentOnWire(t, rec, scrambles, "caching_sha2_password fast-path auth responses")
			a := artifacts{}
			runAndCollect(t, ql, dir, a)
			checkLeaks(t, a, ns, literals, lit9String)
		})
	}
}

// assertSentOnWire checks that at least one computed auth response is in
// the recorded client-to-server bytes: the scan then looks for the auth
// bytes that really crossed the proxy, not for a guess.
func assertSentOnWire(t *testing.T, rec *recorder, computed [][]byte, what string) {
	t.Helper()
	toServer, _ := rec.streams()
	all := bytes.Join(toServer, nil)
	hits := 0
	for _, sc := range computed {
		if bytes.Contains(all, sc) {
			hits++
		}
	}
	require.Positive(t, hits, "%s: none of the %d computed responses is on the wire; the scrambles are computed wrong", what, len(computed))
}

// mysql9Logins logs in as the caching_sha2_password user through addr:
// full authentication inside TLS (empty cache: the cleartext password goes
// through the proxy's decrypted stream), the fast path in plaintext, full
// authentication in plaintext with the server's RSA key, and a refused
// password; each runs a statement with a literal.
func mysql9Logins(t *testing.T, my *testdb.MySQL9, addr string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	flush := func() {
		out, err := my.RootClient(ctx, "-e", "FLUSH PRIVILEGES").CombinedOutput()
		require.NoError(t, err, string(out))
	}
	login := func(pw string, extra ...string) (string, error) {
		args := append([]string{"-h", host, "-P", port, "-u", "sec_sha2", "-p" + pw, "--batch",
			"-e", "SHOW SESSION STATUS LIKE 'Ssl_version'; SELECT '" + lit9String + "' AS s"}, extra...)
		out, err := my.Client(ctx, args...).CombinedOutput()
		return string(out), err
	}
	flush()
	out, err := login(pwSHA2, "--ssl-mode=REQUIRED")
	require.NoError(t, err, "full auth over TLS: %s", out)
	require.Contains(t, out, "TLSv1")
	out, err = login(pwSHA2, "--ssl-mode=DISABLED")
	require.NoError(t, err, "fast path in plaintext: %s", out)
	flush()
	out, err = login(pwSHA2, "--ssl-mode=DISABLED", "--get-server-public-key")
	require.NoError(t, err, "RSA full auth: %s", out)
	out, err = login(pwWrong, "--ssl-mode=REQUIRED")
	require.Error(t, err, "wrong password accepted: %s", out)
	require.Contains(t, out, "1045")
}

// TestSecretScannerFindsEncodings shows the scan of TestSecretsNeverLeak
// can fail: each way a log line or JSON document could carry a secret
// (zap's string, byte-string and base64 binary fields at any offset, in
// both encoders; hex; JSON) is found, and a clean line is not.
func TestSecretScannerFindsEncodings(t *testing.T) {
	ns := newNeedles()
	nonce := []byte("0123456789abcdefghij")
	sc := nativeScramble(pwNative, nonce)
	ns.addBytes("secret", "scramble", sc)
	for _, format := range []string{"console", "json"} {
		cases := map[string]zap.Field{
			"password string":   zap.String("x", "user=ql pw="+pwSecond),
			"file bytes":        zap.ByteString("x", []byte("data: "+fileToken+"\t1\n")),
			"scramble binary0":  zap.Binary("x", sc),
			"scramble binary1":  zap.Binary("x", append([]byte{20}, sc...)),
			"scramble binary2":  zap.Binary("x", append([]byte{0, 20}, sc...)),
			"cleartext binary":  zap.Binary("x", append([]byte{1}, append([]byte(pwSHA2), 0)...)),
			"sha1 hex":          zap.String("x", hex.EncodeToString(sha1Sum(sha1Sum([]byte(pwNative))))),
			"scramble stringer": zap.Stringer("x", hexStringer(sc)),
		}
		for name, f := range cases {
			var buf bytes.Buffer
			log, err := newLogger(&config{logLevel: "debug", logFormat: format}, &buf)
			require.NoError(t, err)
			log.Debug("probe", f)
			found := scan(artifacts{"log": buf.Bytes()}, ns)
			assert.NotEmpty(t, found, "%s %s not found in %q", format, name, buf.String())
		}
		var buf bytes.Buffer
		log, err := newLogger(&config{logLevel: "debug", logFormat: format}, &buf)
		require.NoError(t, err)
		log.Debug("clean", zap.String("fingerprint", "select ? as s"), zap.Binary("nonce", nonce))
		assert.Empty(t, scan(artifacts{"log": buf.Bytes()}, ns), "clean line")
	}
}

type hexStringer []byte

func (h hexStringer) String() string { return strings.ToUpper(hex.EncodeToString(h)) }

// TestPasswordStatementsNeverLeak: statements that carry a password in
// their text (ALTER USER ... IDENTIFIED BY, SET PASSWORD ... PASSWORD(),
// CREATE USER ... IDENTIFIED BY) keep it out of every output, with
// --log-literals too: the operator opted into literal values, not into
// credentials (the servers' own general logs rewrite these statements).
func TestPasswordStatementsNeverLeak(t *testing.T) {
	srv := testdb.Require(t)
	const pwStmt = "Pw-5e0a3b-SQLTEXT"
	for _, literals := range []bool{false, true} {
		t.Run(fmt.Sprintf("log-literals=%v", literals), func(t *testing.T) {
			dir := t.TempDir()
			ql := startQuerylens(t, srv.Addr, secretArgs(dir, literals)...)
			db, err := sql.Open("mysql", srv.DSN(ql.listen, testdb.Schema))
			require.NoError(t, err)
			defer db.Close()
			for _, q := range []string{
				"DROP USER IF EXISTS 'sec_stmt'@'%'",
				"CREATE USER 'sec_stmt'@'%' IDENTIFIED BY '" + pwStmt + "'",
				"ALTER USER 'sec_stmt'@'%' IDENTIFIED BY '" + pwStmt + "'",
				"SET PASSWORD FOR 'sec_stmt'@'%' = PASSWORD('" + pwStmt + "')",
				"GRANT SELECT ON " + testdb.Schema + ".* TO 'sec_stmt'@'%' IDENTIFIED BY '" + pwStmt + "'",
				"DROP USER 'sec_stmt'@'%'",
			} {
				_, err := db.Exec(q)
				require.NoError(t, err, q)
			}
			require.NoError(t, db.Close())
			ns := &needles{}
			ns.addPassword(pwStmt)
			a := artifacts{}
			runAndCollect(t, ql, dir, a)
			checkLeaks(t, a, ns, literals)
		})
	}
}
