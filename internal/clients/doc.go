// Package clients holds querylens's real-client integration tests: the
// mariadb command-line client, sysbench, Node's mysql2, Python's MySQLdb and
// go-sql-driver run the same workloads against a throwaway MariaDB directly
// and through an in-process querylens, and the tests check that the clients
// see identical results and that querylens's counts agree with the server's
// own (performance_schema digest rows and Com_* status counters).
//
// The package has no non-test code beyond this comment. A client that is not
// installed skips its test with an install hint, except when CI=true, where
// the test fails. Helper scripts live in testdata/.
package clients
