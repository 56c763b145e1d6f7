// Package pglocal runs a private PostgreSQL server from the locally
// installed server binaries. It is used by the test harness (package pgtest)
// and by `patronfed dev`.
//
// Start initialises the data directory when needed, launches `postgres`
// directly as a child process (listening on 127.0.0.1 and on a unix socket
// in a short private directory) and waits until the server reports that it
// accepts connections. Authentication is "trust" for user postgres: the
// server is meant for tests and local development only.
//
// Design notes:
//
//   - The postmaster is our child, not a pg_ctl-daemonised process. On Linux
//     it gets a parent-death signal (SIGINT, i.e. fast shutdown), so a test
//     binary that is killed by `go test -timeout` or crashes does not leave
//     servers behind. Its output goes to Options.Log (or a log file in the
//     data directory); the tail of the output is included in start errors.
//   - When the calling process runs as root (CI containers), initdb and
//     postgres refuse to run, so pglocal chowns the data and socket
//     directories to the "postgres" system user and runs the binaries with
//     that user's credentials. Every ancestor of the data directory must be
//     traversable by that user (directories under os.TempDir() are).
//   - Non-durable clusters (tests) are not initdb'd each time: a pristine
//     cluster is created once per machine, PostgreSQL version and uid under
//     os.TempDir()/patronfed-pgcluster-<version>-<uid> (guarded by a flock so
//     parallel test binaries do not race) and copied into each new data
//     directory. Non-durable servers run with fsync, synchronous_commit and
//     full_page_writes off and parallel query disabled.
//   - Binaries are looked up in $PATRONFED_PG_BINDIR, then $PATH, then
//     /usr/lib/postgresql/*/bin (highest version first).
//
// Every server runs with TimeZone=UTC.
package pglocal
