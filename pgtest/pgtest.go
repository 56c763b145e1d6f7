package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/patronfed/patronfed/pglocal"
	"github.com/patronfed/patronfed/store"
)

// TemplateDB is the database every NewDB clones: migrated once per test
// binary, then closed to connections.
const TemplateDB = "template_patronfed"

const dirPrefix = "patronfed-pgtest-"

var (
	mainCalled atomic.Bool

	startOnce sync.Once
	srv       *pglocal.Server
	admin     *pgxpool.Pool // connected to database "postgres"
	startErr  error
	dataDir   string

	cloneMu sync.Mutex // PostgreSQL refuses concurrent clones of a template
	dbSeq   atomic.Int64
)

// Main runs the tests of a package that uses a database; call it from
// TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// The private server (see package pglocal) is started by the first NewDB,
// NewEmptyDB or SuperuserURL call, so test runs selecting no database test
// pay nothing. Starting it creates database template_patronfed and applies
// store.MigrateUp to it. After the tests, Main stops the server, removes its
// directory and exits with the tests' code. If the PostgreSQL binaries are
// missing it prints how to install them and exits 1 (CI must fail, not
// skip).
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	mainCalled.Store(true)
	if _, err := pglocal.FindBinaries(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	sweepStaleDirs()
	code := m.Run()
	if err := shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// server starts the shared server on first use.
func server() (*pglocal.Server, error) {
	startOnce.Do(func() {
		if !mainCalled.Load() {
			startErr = errors.New("pgtest: TestMain must call pgtest.Main(m)")
			return
		}
		startErr = startServer()
	})
	return srv, startErr
}

func startServer() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Directly under a world-traversable directory, so that as root the
	// server's user can reach it; the pid lets sweepStaleDirs find the
	// leftovers of killed test binaries.
	d, err := os.MkdirTemp(baseDir(), dirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	dataDir = d
	s, err := pglocal.Start(ctx, pglocal.Options{Dir: d})
	if err != nil {
		return fmt.Errorf("pgtest: starting PostgreSQL: %w", err)
	}
	srv = s
	admin, err = pgxpool.New(ctx, s.URL("postgres")+"&pool_max_conns=4")
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+TemplateDB); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if err := store.MigrateUp(ctx, s.URL(TemplateDB)); err != nil {
		return fmt.Errorf("pgtest: migrating %s: %w", TemplateDB, err)
	}
	// No connections from now on: cloning needs an idle template, and
	// accidental use of the template would leak into every test database.
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+TemplateDB+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

func shutdown() error {
	if admin != nil {
		admin.Close()
	}
	var err error
	if srv != nil {
		err = srv.Stop()
	}
	if dataDir != "" {
		err = errors.Join(err, os.RemoveAll(dataDir))
	}
	return err
}

// BaseDirEnv names an environment variable that overrides where the test
// server's data directory is created.
const BaseDirEnv = "PATRONFED_PGTEST_DIR"

// baseDir is where the data directory goes: $PATRONFED_PGTEST_DIR, else
// /dev/shm when it is a large enough tmpfs (Linux), else os.TempDir().
func baseDir() string {
	if d := os.Getenv(BaseDirEnv); d != "" {
		return d
	}
	if d := ramDir(); d != "" {
		return d
	}
	return os.TempDir()
}

// sweepStaleDirs removes directories left by test binaries that were killed:
// their creator (pid in the name) is gone, their server has shut down
// (pglocal's parent-death signal; no postmaster.pid, which also protects
// servers of other PID namespaces sharing the directory) and they are a few
// minutes old.
func sweepStaleDirs() {
	var matches []string
	for _, d := range []string{baseDir(), os.TempDir()} {
		m, _ := filepath.Glob(filepath.Join(d, dirPrefix+"*"))
		matches = append(matches, m...)
	}
	for _, m := range matches {
		pidStr, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(m), dirPrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if _, err := os.Lstat(filepath.Join(m, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		if fi, err := os.Lstat(m); err == nil && fi.IsDir() && time.Since(fi.ModTime()) > 2*time.Minute {
			os.RemoveAll(m)
		}
	}
}

func mustServer(t testing.TB) *pglocal.Server {
	t.Helper()
	s, err := server()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// NewDB creates a database cloned from the migrated template, drops it
// (WITH (FORCE)) when the test ends, and returns its URL (superuser
// postgres). Tests using it may call t.Parallel.
func NewDB(t testing.TB) string {
	t.Helper()
	return newDB(t, TemplateDB)
}

// NewEmptyDB is NewDB without the schema: the database is cloned from
// template0 and has no migrations applied (for migration tests).
func NewEmptyDB(t testing.TB) string {
	t.Helper()
	return newDB(t, "template0")
}

func newDB(t testing.TB, template string) string {
	t.Helper()
	s := mustServer(t)
	name := dbName(t.Name(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	var err error
	if template == TemplateDB {
		cloneMu.Lock()
		_, err = admin.Exec(ctx, sql)
		cloneMu.Unlock()
	} else {
		_, err = admin.Exec(ctx, sql)
	}
	if err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return s.URL(name)
}

// dbName derives a valid, unique database name (<= 63 bytes) from the test
// name, e.g. "t12_testintx_commits".
func dbName(test string, seq int64) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := fmt.Sprintf("t%d_%s", seq, b.String())
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// NewPool is NewDB plus a pgx pool connected to it (as superuser, without
// SET ROLE), closed when the test ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close) // runs before the DROP registered by NewDB
	return pool
}

// SuperuserURL returns the superuser URL of database db on the shared
// server (e.g. for tests that tamper with the audit log while the code
// under test connects with SET ROLE). It starts the server if needed and
// panics if that fails.
func SuperuserURL(db string) string {
	s, err := server()
	if err != nil {
		panic(err)
	}
	return s.URL(db)
}

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}
