//go:build unix

package pglocal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// account is the user the PostgreSQL binaries run as when the calling
// process is root. A nil *account means "run as the current user".
type account struct {
	name     string
	uid, gid int
	groups   []int
}

// serverAccount returns nil when not running as root, and the "postgres"
// system user otherwise (initdb and postgres refuse to run as root).
func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pglocal: running as root requires a \"postgres\" system user to run the server as (install the postgresql package, or run as a normal user): %w", err)
	}
	a := &account{name: u.Username}
	if a.uid, err = strconv.Atoi(u.Uid); err != nil {
		return nil, fmt.Errorf("pglocal: user postgres: bad uid %q", u.Uid)
	}
	if a.gid, err = strconv.Atoi(u.Gid); err != nil {
		return nil, fmt.Errorf("pglocal: user postgres: bad gid %q", u.Gid)
	}
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if n, err := strconv.Atoi(g); err == nil {
				a.groups = append(a.groups, n)
			}
		}
	}
	return a, nil
}

// procAttr returns the SysProcAttr for a PostgreSQL child process: the
// server account's credentials when running as root, and (on Linux) a
// parent-death signal when pdeath is set.
func procAttr(a *account, pdeath bool) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{}
	if a != nil {
		groups := make([]uint32, 0, len(a.groups))
		for _, g := range a.groups {
			groups = append(groups, uint32(g))
		}
		attr.Credential = &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.gid), Groups: groups}
	}
	if pdeath {
		setPdeathsig(attr)
	}
	return attr
}

// chown changes the owner of path (not following symlinks) to a; no-op for nil a.
func (a *account) chown(path string) error {
	if a == nil {
		return nil
	}
	return os.Lchown(path, a.uid, a.gid)
}

// chownTree chowns root and everything below it to a; no-op for nil a.
func (a *account) chownTree(root string) error {
	if a == nil {
		return nil
	}
	return filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, a.uid, a.gid)
	})
}

// owns reports whether a (or the current user, for nil a) owns fi.
func (a *account) owns(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	if a == nil {
		return int(st.Uid) == os.Geteuid()
	}
	return int(st.Uid) == a.uid
}

func fileUID(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// checkReachable verifies that a can traverse every ancestor of dir (only
// meaningful as root, where the server runs as another user).
func (a *account) checkReachable(dir string) error {
	if a == nil {
		return nil
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok {
			perm := fi.Mode().Perm()
			okx := perm&0o001 != 0 ||
				int(st.Uid) == a.uid && perm&0o100 != 0 ||
				a.inGroup(int(st.Gid)) && perm&0o010 != 0
			if !okx {
				return fmt.Errorf("pglocal: the server runs as user %s (the caller is root) but cannot reach %s: %s is not traversable by it (mode %v); use a directory under %s or make %s o+x",
					a.name, dir, p, fi.Mode().Perm(), os.TempDir(), p)
			}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

func (a *account) inGroup(gid int) bool {
	if gid == a.gid {
		return true
	}
	for _, g := range a.groups {
		if g == gid {
			return true
		}
	}
	return false
}

func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func unlockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// processAlive reports whether a process with that pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func signalProcess(p *os.Process, sig string) error {
	switch sig {
	case "fast":
		return p.Signal(syscall.SIGINT)
	case "immediate":
		return p.Signal(syscall.SIGQUIT)
	default:
		return p.Kill()
	}
}
