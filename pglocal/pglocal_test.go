package pglocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// tempDir returns a fresh world-traversable directory directly under
// os.TempDir(): as root the server runs as user postgres, which cannot
// traverse t.TempDir()'s 0700 parent.
func tempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "pglocal-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func requireBinaries(t *testing.T) {
	t.Helper()
	if _, err := FindBinaries(); err != nil {
		t.Fatal(err) // fail, not skip: CI must notice missing binaries
	}
}

func start(t *testing.T, o Options) *Server {
	t.Helper()
	requireBinaries(t)
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

func query(t *testing.T, url, sql string, args ...any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var out string
	if err := conn.QueryRow(ctx, sql, args...).Scan(&out); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func execSQL(t *testing.T, url, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestFindBinaries(t *testing.T) {
	d, err := FindBinaries()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(d, b)); err != nil {
			t.Error(err)
		}
	}
}

func TestFindBinariesSearchOrder(t *testing.T) {
	root := t.TempDir()
	mk := func(v string, bins ...string) {
		d := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, b := range bins {
			if err := os.WriteFile(filepath.Join(d, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("9.6", "initdb", "pg_ctl", "postgres")
	mk("14", "initdb", "pg_ctl", "postgres")
	mk("16", "pg_ctl") // client-only / incomplete: skipped
	mk("15", "initdb", "pg_ctl", "postgres")
	t.Setenv("PATH", t.TempDir())

	got, err := findBinaries("", filepath.Join(root, "*", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "15", "bin"); got != want {
		t.Errorf("got %s, want %s", got, want)
	}

	got, err = findBinaries(filepath.Join(root, "14", "bin"), filepath.Join(root, "*", "bin"))
	if err != nil || got != filepath.Join(root, "14", "bin") {
		t.Errorf("override: got %s, %v", got, err)
	}

	_, err = findBinaries("", filepath.Join(root, "none", "*", "bin"))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	const want = "PostgreSQL server binaries (initdb, pg_ctl) not found; install them with: apt-get install postgresql"
	if err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if _, err := findBinaries(filepath.Join(root, "16", "bin"), ""); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), BinDirEnv) {
		t.Errorf("bad override: %v", err)
	}
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	var log bytes.Buffer
	var mu sync.Mutex
	s := start(t, Options{Dir: filepath.Join(tempDir(t), "data"), Log: lockedWriter{&mu, &log}})
	if s.Port() == 0 {
		t.Fatal("no port")
	}
	if got := query(t, s.URL("postgres"), "SELECT current_setting('fsync')"); got != "off" {
		t.Errorf("fsync = %s, want off", got)
	}
	if got := query(t, s.URL("postgres"), "SELECT current_setting('TimeZone')"); got != "UTC" {
		t.Errorf("TimeZone = %s", got)
	}
	if got := query(t, s.URL("postgres"), "SELECT current_user"); got != "postgres" {
		t.Errorf("current_user = %s", got)
	}
	if got := query(t, s.URL("postgres"), "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'template1'"); got != "UTF8" {
		t.Errorf("encoding = %s", got)
	}
	// EnsureDatabase creates once and then leaves the database alone.
	for range 2 {
		if err := s.EnsureDatabase(context.Background(), "app-db"); err != nil {
			t.Fatal(err)
		}
	}
	if got := query(t, s.URL("app-db"), "SELECT current_database()"); got != "app-db" {
		t.Errorf("current_database = %s", got)
	}
	sock := filepath.Join(s.SocketDir(), fmt.Sprintf(".s.PGSQL.%d", s.Port()))
	if _, err := os.Stat(sock); err != nil || len(sock) >= 100 {
		t.Errorf("socket %s: %v", sock, err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("postmaster.pid left behind: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(log.String(), "database system is shut down") {
		t.Errorf("log does not show the shutdown:\n%s", log.String())
	}
}

func TestLongDirUsesShortSocketDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(tempDir(t), strings.Repeat("long-directory-name/", 6), "data")
	s := start(t, Options{Dir: dir})
	if s.SocketDir() == s.Dir() || len(s.SocketDir()) > 60 {
		t.Errorf("socket dir %s", s.SocketDir())
	}
	if got := query(t, s.URL("postgres"), "SELECT 'ok'"); got != "ok" {
		t.Fatal(got)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.SocketDir()); !os.IsNotExist(err) {
		t.Errorf("socket dir left behind: %v", err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestDurableReuse covers the dev flow: initdb into a missing dir, restart
// on the same dir with data kept, and restart after the server was killed
// and its PID reused by an unrelated process.
func TestDurableReuse(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(tempDir(t), "dev", "pgdata")
	s := start(t, Options{Dir: dir, Durable: true})
	if got := query(t, s.URL("postgres"), "SELECT current_setting('fsync')"); got != "on" {
		t.Errorf("fsync = %s, want on", got)
	}
	query(t, s.URL("postgres"), "WITH c AS (SELECT 1) SELECT 'ok'") // warm up
	execSQL(t, s.URL("postgres"), "CREATE TABLE kept AS SELECT 'x' AS v")
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pglocal.log")); err != nil {
		t.Errorf("default log file: %v", err)
	}

	s = start(t, Options{Dir: dir, Durable: true})
	if got := query(t, s.URL("postgres"), "SELECT v FROM kept"); got != "x" {
		t.Errorf("kept = %q", got)
	}
	// Kill the postmaster hard: postmaster.pid stays behind. Its children
	// (checkpointer, writers, backends) notice and exit shortly after; their
	// titles do not name the directory, so they are found by parent now.
	children := childPIDs(s.proc.Pid)
	if err := s.proc.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.exited
	waitBackendsGone(t, dir, children)
	// Simulate PID reuse: point postmaster.pid at a live non-postgres process.
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	pidFile := filepath.Join(dir, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("expected a stale postmaster.pid: %v", err)
	}
	_, rest, _ := strings.Cut(string(b), "\n")
	if err := os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n%s", sleeper.Process.Pid, rest)), 0o600); err != nil {
		t.Fatal(err)
	}

	s = start(t, Options{Dir: dir, Durable: true})
	if got := query(t, s.URL("postgres"), "SELECT v FROM kept"); got != "x" {
		t.Errorf("kept after crash = %q", got)
	}
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(pid int) []string {
	out, _ := exec.Command("pgrep", "-P", strconv.Itoa(pid)).Output()
	return strings.Fields(string(out))
}

// waitBackendsGone waits until no process still runs on dir and the
// postmaster's former children have exited (they exit shortly after their
// postmaster is SIGKILLed; until then they hold its shared memory, and a
// new postmaster refuses to start).
func waitBackendsGone(t *testing.T, dir string, children []string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := exec.Command("pgrep", "-f", "--", dir).Output()
		alive := len(bytes.TrimSpace(out)) > 0
		for _, c := range children {
			// A zombie (state Z) has exited and detached its memory; it
			// stays listed until its new parent reaps it.
			if b, err := os.ReadFile("/proc/" + c + "/stat"); err == nil {
				if _, after, ok := bytes.Cut(b, []byte(") ")); ok && len(after) > 0 && after[0] != 'Z' {
					alive = true
				}
			}
		}
		if !alive {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("processes still running on %s", dir)
}

func TestNonEmptyDirRefused(t *testing.T) {
	requireBinaries(t)
	dir := tempDir(t)
	if err := os.WriteFile(filepath.Join(dir, "junk"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "neither a PostgreSQL data directory") {
		t.Fatalf("got %v", err)
	}
}

func TestExplicitPortInUse(t *testing.T) {
	requireBinaries(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = Start(context.Background(), Options{Dir: filepath.Join(tempDir(t), "d"), Port: port})
	if !errors.Is(err, errPortInUse) {
		t.Fatalf("got %v, want errPortInUse", err)
	}
}

// TestPortCollisionRetry makes the first picked port a taken one; Start must
// retry with another.
func TestPortCollisionRetry(t *testing.T) {
	requireBinaries(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	orig := pickPort
	calls := 0
	pickPort = func() (int, error) {
		calls++
		if calls == 1 {
			return taken, nil
		}
		return orig()
	}
	defer func() { pickPort = orig }()
	s := start(t, Options{Dir: filepath.Join(tempDir(t), "d")})
	if calls < 2 || s.Port() == taken {
		t.Fatalf("calls=%d port=%d taken=%d", calls, s.Port(), taken)
	}
	if got := query(t, s.URL("postgres"), "SELECT 'ok'"); got != "ok" {
		t.Fatal(got)
	}
}

func TestParallelServers(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	servers := make([]*Server, 3)
	errs := make([]error, 3)
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i], errs[i] = Start(context.Background(), Options{Dir: filepath.Join(tempDir(t), "d")})
		}()
	}
	wg.Wait()
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(func() { s.Stop() })
		if got := query(t, s.URL("postgres"), "SELECT 'ok'"); got != "ok" {
			t.Fatal(got)
		}
	}
}

func TestPdeathsig(t *testing.T) {
	if !hasPdeathsig {
		t.Skip("no parent-death signal on this OS")
	}
	requireBinaries(t)
	if os.Getenv("PGLOCAL_CHILD_DIR") != "" {
		return
	}
	// A child test binary starts a server and is SIGKILLed; the server must
	// shut itself down.
	dir := filepath.Join(tempDir(t), "d")
	cmd := exec.Command(os.Args[0], "-test.run=^TestPdeathsigChild$", "-test.v")
	cmd.Env = append(os.Environ(), "PGLOCAL_CHILD_DIR="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	pidFile := filepath.Join(dir, "postmaster.pid")
	deadline := time.Now().Add(30 * time.Second)
	for !fileHas(pidFile, "ready") {
		select {
		case <-exited:
			t.Fatalf("child exited early:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("child server never became ready:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-exited
	deadline = time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(pidFile); os.IsNotExist(err) {
			break // clean shutdown removes postmaster.pid
		}
		if time.Now().After(deadline) {
			t.Fatal("server survived its parent")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPdeathsigChild(t *testing.T) {
	dir := os.Getenv("PGLOCAL_CHILD_DIR")
	if dir == "" {
		t.Skip("helper for TestPdeathsig")
	}
	if _, err := Start(context.Background(), Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Minute) // killed by the parent test
}

func fileHas(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b), s)
}
