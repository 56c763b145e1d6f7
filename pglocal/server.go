package pglocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures Start.
type Options struct {
	// Dir is the data directory. It is created and initialised if it does
	// not hold a PG_VERSION file (it must then be missing or empty), and
	// reused otherwise. Required.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one (and retries
	// with another port if it is taken by the time the server binds it).
	Port int
	// Durable keeps PostgreSQL's crash-safety settings (for `patronfed dev`).
	// When false (tests) the server runs with fsync=off,
	// synchronous_commit=off and full_page_writes=off, and new clusters are
	// copied from a cached pristine cluster instead of running initdb.
	Durable bool
	// Log receives the server's log output. nil means the file pglocal.log
	// in Dir (appended to).
	Log io.Writer
}

// Server is a running private PostgreSQL server.
type Server struct {
	dir     string
	sockDir string
	port    int
	proc    *os.Process
	exited  chan struct{} // closed when the postmaster has exited
	waitErr error         // valid after exited is closed
	logDone chan struct{} // closed when all output has been copied
	logFile *os.File      // opened by us (Options.Log == nil)
	tail    *tailBuffer

	stopOnce sync.Once
	stopErr  error
}

// Timeouts for Stop; variables so tests can shorten them.
var (
	fastShutdownTimeout      = 60 * time.Second
	immediateShutdownTimeout = 10 * time.Second
)

const (
	defaultStartTimeout = 2 * time.Minute
	portAttempts        = 5
)

// pickPort returns a currently free TCP port on 127.0.0.1. A variable so
// tests can simulate collisions.
var pickPort = func() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start prepares o.Dir (see Options), starts postgres and waits until it
// accepts connections. If ctx has no deadline, a 2-minute limit applies.
// The caller must call Stop. Errors wrap ErrNotFound when the binaries are
// missing, and include the tail of the server log when the server fails.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("pglocal: Options.Dir is required")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	acct, err := serverAccount()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	version, major, err := serverVersion(ctx, bin)
	if err != nil {
		return nil, err
	}
	if err := prepareDataDir(ctx, bin, version, major, dir, o.Durable, acct); err != nil {
		return nil, err
	}

	s := &Server{dir: dir, tail: &tailBuffer{max: 16 << 10}}
	logw := o.Log
	if logw == nil {
		f, err := os.OpenFile(filepath.Join(dir, "pglocal.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("pglocal: %w", err)
		}
		s.logFile, logw = f, f
	}
	if s.sockDir, err = socketDir(dir, acct); err != nil {
		s.cleanup()
		return nil, err
	}

	for attempt := 1; ; attempt++ {
		port := o.Port
		if port == 0 {
			if port, err = pickPort(); err != nil {
				s.cleanup()
				return nil, fmt.Errorf("pglocal: picking a port: %w", err)
			}
		}
		err = s.launch(ctx, bin, port, o.Durable, acct, logw)
		if err == nil {
			return s, nil
		}
		if o.Port == 0 && attempt < portAttempts && errors.Is(err, errPortInUse) {
			continue
		}
		s.cleanup()
		return nil, err
	}
}

var errPortInUse = errors.New("port in use")

// launch starts the postmaster on port and waits for it to be ready. On
// failure the process is gone when launch returns.
func (s *Server) launch(ctx context.Context, bin string, port int, durable bool, acct *account, logw io.Writer) error {
	args := []string{
		"-D", s.dir,
		"-p", strconv.Itoa(port),
		"-k", s.sockDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "TimeZone=UTC",
	}
	if !durable {
		args = append(args,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
			"-c", "max_connections=300",
			"-c", "shared_buffers=32MB",
			"-c", "max_parallel_workers_per_gather=0",
			"-c", "checkpoint_timeout=1h",
			"-c", "max_wal_size=1GB",
		)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	s.tail.reset()
	s.exited = make(chan struct{})
	s.logDone = make(chan struct{})
	go func() {
		defer close(s.logDone)
		defer pr.Close()
		io.Copy(io.MultiWriter(s.tail, ignoreErrors{logw}), pr)
	}()

	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Dir = "/"
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = procAttr(acct, true)

	// The parent-death signal is tied to the thread that forked the child,
	// so fork from a locked thread that lives as long as the server does.
	started := make(chan error, 1)
	exited := s.exited
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(exited)
			return
		}
		started <- nil
		s.waitErr = cmd.Wait()
		close(exited)
	}()
	err = <-started
	pw.Close() // the child holds its own copy
	if err != nil {
		<-s.logDone
		return fmt.Errorf("pglocal: starting postgres: %w", err)
	}
	s.proc = cmd.Process
	s.port = port

	pidFile := filepath.Join(s.dir, "postmaster.pid")
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			s.waitLog()
			out := s.tail.String()
			if strings.Contains(out, "could not bind") || strings.Contains(out, "Address already in use") {
				return fmt.Errorf("pglocal: postgres could not bind 127.0.0.1:%d: %w\n%s", port, errPortInUse, out)
			}
			return fmt.Errorf("pglocal: postgres exited during startup (%v); server log:\n%s", s.waitErr, out)
		case <-ctx.Done():
			s.kill()
			return fmt.Errorf("pglocal: waiting for postgres to accept connections: %w; server log:\n%s", ctx.Err(), s.tail.String())
		case <-tick.C:
			if ready(pidFile, s.proc.Pid) {
				return nil
			}
		}
	}
}

// ready reports whether postmaster.pid belongs to pid and says "ready"
// (line 8, PostgreSQL >= 10; this is what pg_ctl -w checks).
func ready(pidFile string, pid int) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 8 || strings.TrimSpace(lines[0]) != strconv.Itoa(pid) {
		return false
	}
	return strings.TrimSpace(lines[7]) == "ready"
}

// socketDir returns the directory for the unix socket: the data directory
// if its path is short enough (socket paths are limited to ~107 bytes),
// else a new short private directory that cleanup removes.
func socketDir(dataDir string, acct *account) (string, error) {
	if len(dataDir)+len("/.s.PGSQL.65535.lock") < 100 {
		return dataDir, nil
	}
	base := os.TempDir()
	if len(base) > 60 {
		base = "/tmp"
	}
	d, err := os.MkdirTemp(base, "pgl")
	if err != nil {
		return "", fmt.Errorf("pglocal: socket directory: %w", err)
	}
	if err := acct.chown(d); err != nil {
		os.Remove(d)
		return "", fmt.Errorf("pglocal: %w", err)
	}
	return d, nil
}

// URL returns a connection URL for database db as superuser postgres over TCP.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, url.PathEscape(db))
}

// Port returns the TCP port the server listens on (127.0.0.1).
func (s *Server) Port() int { return s.port }

// Dir returns the absolute data directory.
func (s *Server) Dir() string { return s.dir }

// SocketDir returns the directory holding the server's unix socket (for
// psql -h).
func (s *Server) SocketDir() string { return s.sockDir }

// Stop shuts the server down (fast shutdown: active sessions are
// disconnected), escalating to an immediate shutdown and then SIGKILL if it
// takes too long. It is idempotent and safe for concurrent use.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	var err error
	select {
	case <-s.exited:
		err = fmt.Errorf("pglocal: server had already exited: %v", s.waitErr)
	default:
		err = s.shutdown()
	}
	s.waitLog()
	s.cleanup()
	return err
}

func (s *Server) shutdown() error {
	_ = signalProcess(s.proc, "fast")
	select {
	case <-s.exited:
		return nil
	case <-time.After(fastShutdownTimeout):
	}
	_ = signalProcess(s.proc, "immediate")
	select {
	case <-s.exited:
		return errors.New("pglocal: fast shutdown timed out; used immediate shutdown")
	case <-time.After(immediateShutdownTimeout):
	}
	s.kill()
	return errors.New("pglocal: shutdown timed out; killed the postmaster")
}

// kill SIGKILLs the postmaster and waits for it.
func (s *Server) kill() {
	_ = signalProcess(s.proc, "kill")
	<-s.exited
	s.waitLog()
}

// waitLog waits (briefly) for the log copier: backends that outlive the
// postmaster keep the pipe open.
func (s *Server) waitLog() {
	select {
	case <-s.logDone:
	case <-time.After(5 * time.Second):
	}
}

func (s *Server) cleanup() {
	if s.sockDir != "" && s.sockDir != s.dir {
		os.RemoveAll(s.sockDir)
	}
	if s.logFile != nil {
		s.logFile.Close()
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}

func (t *tailBuffer) reset() {
	t.mu.Lock()
	t.buf = nil
	t.mu.Unlock()
}

// ignoreErrors keeps copying to the tail even if the user's writer fails.
type ignoreErrors struct{ w io.Writer }

func (w ignoreErrors) Write(p []byte) (int, error) {
	w.w.Write(p)
	return len(p), nil
}
