package pglocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ErrNotFound is returned (wrapped) by FindBinaries and Start when the
// PostgreSQL server binaries cannot be located.
var ErrNotFound = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found; install them with: apt-get install postgresql")

// BinDirEnv names an environment variable that, when set, overrides the
// search and must point at a directory holding initdb and postgres.
const BinDirEnv = "PATRONFED_PG_BINDIR"

// debianGlob is where Debian/Ubuntu's postgresql packages put server binaries.
var debianGlob = "/usr/lib/postgresql/*/bin"

// requiredBinaries must all live in the returned directory. pg_ctl is not
// used by pglocal but its presence is what identifies a server installation
// (the client-only packages ship neither).
var requiredBinaries = []string{"initdb", "postgres", "pg_ctl"}

// FindBinaries returns the directory holding the PostgreSQL server binaries
// (initdb, pg_ctl, postgres). It looks at $PATRONFED_PG_BINDIR, then $PATH,
// then /usr/lib/postgresql/*/bin, preferring the highest major version. Its
// error wraps ErrNotFound.
func FindBinaries() (dir string, err error) {
	return findBinaries(os.Getenv(BinDirEnv), debianGlob)
}

func findBinaries(override, glob string) (string, error) {
	if override != "" {
		if d, ok := binDirOK(override); ok {
			return d, nil
		}
		return "", fmt.Errorf("%s=%s does not hold %s: %w", BinDirEnv, override, strings.Join(requiredBinaries, ", "), ErrNotFound)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		// Resolve symlinks (/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb)
		// so that postgres is found next to it.
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		if d, ok := binDirOK(filepath.Dir(p)); ok {
			return d, nil
		}
	}
	matches, _ := filepath.Glob(glob)
	sort.SliceStable(matches, func(i, j int) bool {
		return versionKey(matches[i]) > versionKey(matches[j])
	})
	for _, m := range matches {
		if d, ok := binDirOK(m); ok {
			return d, nil
		}
	}
	return "", ErrNotFound
}

// versionKey extracts the numeric major version from .../postgresql/<v>/bin
// (9.6 sorts as 9.6, 15 as 15).
func versionKey(binDir string) float64 {
	v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	if err != nil {
		return -1
	}
	return v
}

func binDirOK(dir string) (string, bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	for _, b := range requiredBinaries {
		fi, err := os.Stat(filepath.Join(abs, b))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return "", false
		}
	}
	return abs, true
}

// serverVersion returns the full version ("15.18") and major ("15") of the
// postgres binary in binDir.
func serverVersion(ctx context.Context, binDir string) (full, major string, err error) {
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return "", "", fmt.Errorf("pglocal: %s/postgres --version: %w", binDir, err)
	}
	// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
	f := strings.Fields(string(out))
	if len(f) < 3 {
		return "", "", fmt.Errorf("pglocal: unexpected postgres --version output %q", out)
	}
	full = strings.Map(func(r rune) rune {
		if r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, f[2])
	major, _, _ = strings.Cut(full, ".")
	if full == "" || major == "" {
		return "", "", fmt.Errorf("pglocal: unexpected postgres --version output %q", out)
	}
	return full, major, nil
}
