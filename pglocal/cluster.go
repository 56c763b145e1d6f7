package pglocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// prepareDataDir makes dir a usable data directory: reuses an existing
// cluster (clearing a stale postmaster.pid), or creates one in an empty or
// missing dir, by copying the cached pristine cluster (non-durable) or by
// running initdb (durable).
func prepareDataDir(ctx context.Context, bin, version, major, dir string, durable bool, acct *account) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if err := acct.checkReachable(dir); err != nil {
		return err
	}
	pgv, err := os.ReadFile(filepath.Join(dir, "PG_VERSION"))
	switch {
	case err == nil:
		if v := strings.TrimSpace(string(pgv)); v != major {
			return fmt.Errorf("pglocal: data directory %s was created by PostgreSQL %s but the binaries in %s are version %s; remove the directory or install PostgreSQL %s", dir, v, bin, major, v)
		}
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
		if !acct.owns(fi) {
			// As root, a directory that root created (e.g. copied by hand) is
			// handed over to postgres; anything owned by a third user is
			// left alone.
			if acct == nil || fileUID(fi) != 0 {
				return fmt.Errorf("pglocal: data directory %s is owned by uid %d; the server would run as %s", dir, fileUID(fi), runAsName(acct))
			}
			if err := acct.chownTree(dir); err != nil {
				return fmt.Errorf("pglocal: %w", err)
			}
		}
		return clearStalePID(dir)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("pglocal: %w", err)
	}

	// New cluster: dir must be missing or empty.
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pglocal: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("pglocal: %s is neither a PostgreSQL data directory (no PG_VERSION) nor empty", dir)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if err := acct.chown(dir); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if durable {
		return initdb(ctx, bin, dir, false, acct)
	}
	src, err := pristineCluster(ctx, bin, version, acct)
	if err != nil {
		return err
	}
	if err := copyTree(src, dir, acct); err != nil {
		// Leave dir empty so that a retry starts from scratch.
		if ents, _ := os.ReadDir(dir); len(ents) > 0 {
			for _, e := range ents {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
		return fmt.Errorf("pglocal: copying cached cluster %s: %w", src, err)
	}
	return nil
}

func runAsName(a *account) string {
	if a == nil {
		return "the current user"
	}
	return a.name
}

// initdb runs initdb on dir (which must be missing or empty, and owned by
// acct when acct is set).
func initdb(ctx context.Context, bin, dir string, noSync bool, acct *account) error {
	args := []string{"-D", dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions"}
	if noSync {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), args...)
	cmd.Dir = "/"
	cmd.Env = childEnv()
	cmd.SysProcAttr = procAttr(acct, false)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pglocal: initdb %s: %w\n%s", dir, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// childEnv is the environment for initdb and postgres: ours minus PG*
// variables (PGDATA, PGPORT, ... would be surprising) and with a neutral
// locale.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

// pristineCluster returns the directory of a freshly initdb'd cluster cached
// for this machine, PostgreSQL version and uid, creating it if needed. A
// flock on <cache>.lock serialises creation across processes; the cache
// only appears (by rename) once complete.
func pristineCluster(ctx context.Context, bin, version string, acct *account) (string, error) {
	cache := filepath.Join(os.TempDir(), fmt.Sprintf("patronfed-pgcluster-%s-%d", version, os.Getuid()))
	if ok, err := cacheValid(cache, acct); err != nil || ok {
		return cache, err
	}
	lock, err := os.OpenFile(cache+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("pglocal: %w", err)
	}
	defer lock.Close()
	if err := lockFile(lock); err != nil {
		return "", fmt.Errorf("pglocal: lock %s: %w", lock.Name(), err)
	}
	defer unlockFile(lock)
	if ok, err := cacheValid(cache, acct); err != nil || ok {
		return cache, err
	}
	if err := os.RemoveAll(cache); err != nil {
		return "", fmt.Errorf("pglocal: %w", err)
	}
	tmp := cache + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("pglocal: %w", err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return "", fmt.Errorf("pglocal: %w", err)
	}
	if err := acct.chown(tmp); err != nil {
		return "", fmt.Errorf("pglocal: %w", err)
	}
	if err := acct.checkReachable(tmp); err != nil {
		return "", err
	}
	if err := initdb(ctx, bin, tmp, true, acct); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, cache); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("pglocal: %w", err)
	}
	return cache, nil
}

// cacheValid reports whether cache holds a complete cluster. It refuses a
// cache that is a symlink or owned by someone else: the directory lives in
// a world-writable place and its configuration gets executed.
func cacheValid(cache string, acct *account) (bool, error) {
	fi, err := os.Lstat(cache)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pglocal: %w", err)
	}
	if !fi.IsDir() || !acct.owns(fi) {
		return false, fmt.Errorf("pglocal: cluster cache %s is not a directory owned by %s; remove it", cache, runAsName(acct))
	}
	_, err = os.Stat(filepath.Join(cache, "PG_VERSION"))
	return err == nil, nil
}

// copyTree copies the contents of src into the existing directory dst,
// preserving permission bits, and chowns everything to acct (if set).
func copyTree(src, dst string, acct *account) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()); err != nil {
				return err
			}
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(l, target); err != nil {
				return err
			}
		case d.Type().IsRegular():
			if err := copyFile(p, target, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return nil // sockets etc.: not part of a pristine cluster
		}
		return acct.chown(target)
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// clearStalePID handles a postmaster.pid left behind by a server that was
// killed. If the PID in it is dead, PostgreSQL itself ignores the file (and
// still performs its shared-memory safety check), so it is left alone. If
// the PID is alive but belongs to something that is not PostgreSQL (PID
// reuse, common in containers), PostgreSQL would refuse to start, so the file
// is removed. A live postgres process is left for PostgreSQL to report.
func clearStalePID(dir string) error {
	pidFile := filepath.Join(dir, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return removeStale(pidFile)
	}
	if !processAlive(pid) {
		return nil
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil // cannot tell (no /proc): let PostgreSQL decide
	}
	if bytes.Contains(cmdline, []byte("postgres")) || bytes.Contains(cmdline, []byte("postmaster")) {
		return nil
	}
	return removeStale(pidFile)
}

func removeStale(pidFile string) error {
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pglocal: removing stale %s: %w", pidFile, err)
	}
	return nil
}
