package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/pglocal"
	"github.com/patronfed/patronfed/pii"
)

// tuning is the bench cluster's configuration: production-like memory
// settings for a 24 GiB machine, crash safety untouched (fsync and
// synchronous_commit stay on: every commit waits for the WAL flush).
var tuning = map[string]string{
	"shared_buffers":           "2GB",
	"effective_cache_size":     "12GB",
	"maintenance_work_mem":     "1GB",
	"work_mem":                 "16MB",
	"max_wal_size":             "8GB",
	"checkpoint_timeout":       "15min",
	"random_page_cost":         "1.1",
	"effective_io_concurrency": "200",
	"max_connections":          "200",
	// Statement statistics for the reports (small overhead, common in
	// production), and autoprewarm: the blocks in shared buffers are listed
	// at shutdown (and every 5 minutes) and read back in after a restart,
	// so the first searches after a restart find the index pages they need
	// (deploy/README.md, "PostgreSQL settings").
	"shared_preload_libraries": "pg_stat_statements, pg_prewarm", // a list: as ALTER SYSTEM writes it
}

// startPG starts (or reuses) the durable bench cluster and applies tuning,
// restarting once if a setting needs it.
func startPG(ctx context.Context, dir string, port int) (*pglocal.Server, error) {
	opts := pglocal.Options{Dir: filepath.Join(dir, "pg"), Port: port, Durable: true}
	pg, err := pglocal.Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		pg.Stop()
		return nil, err
	}
	defer conn.Close(ctx)
	changed := false
	for k, v := range tuning {
		var cur string
		if err := conn.QueryRow(ctx, `SELECT coalesce((SELECT setting FROM pg_file_settings WHERE name = $1 AND applied IS NOT NULL ORDER BY seqno DESC LIMIT 1), '')`, k).Scan(&cur); err != nil {
			pg.Stop()
			return nil, err
		}
		if cur != v {
			// A list is one literal per element ('a', 'b'): 'a, b' would be
			// one library named "a, b".
			val := "'" + strings.ReplaceAll(v, ", ", "', '") + "'"
			if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER SYSTEM SET %s = %s", k, val)); err != nil {
				pg.Stop()
				return nil, err
			}
			changed = true
		}
	}
	if !changed {
		return pg, nil
	}
	conn.Close(ctx)
	if err := pg.Stop(); err != nil {
		return nil, err
	}
	return pglocal.Start(ctx, opts)
}

// keys are the bench instance's keys, kept in dir so the seeded
// identifiers stay decryptable across runs.
type keys struct{ token, pii, index string }

func loadKeys(path string) (keys, error) {
	vals := map[string]string{}
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				vals[k] = v
			}
		}
		f.Close()
	}
	k := keys{vals["PATRONFED_TOKEN_KEYS"], vals["PATRONFED_PII_KEYS"], vals["PATRONFED_PII_INDEX_KEY"]}
	if k.token != "" && k.pii != "" && k.index != "" {
		return k, nil
	}
	k.token = auth.GenerateSigningKeySpec()
	k.pii, k.index = pii.GenerateKeyringSpec()
	content := fmt.Sprintf("PATRONFED_TOKEN_KEYS=%s\nPATRONFED_PII_KEYS=%s\nPATRONFED_PII_INDEX_KEY=%s\n", k.token, k.pii, k.index)
	return k, os.WriteFile(path, []byte(content), 0o600)
}

// proc is a child process (the server under test, the baseline).
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

func startProc(name, logPath string, env []string, bin string, args ...string) (*proc, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, log: lf, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM and waits up to 20 s, then kills.
func (p *proc) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

// rssKB reads the resident set size of pid.
func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// cpuTicks is the process's user+system CPU time in clock ticks.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

func waitHTTP(ctx context.Context, url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("timed out waiting for " + url)
}

// metric reads one unlabelled value from a Prometheus text endpoint.
func metric(url, name string) float64 {
	return metrics(url, name)[""]
}

// metrics reads the series of name from a Prometheus text page, summed
// over their labels but le (a histogram bucket's bound, "" for others).
func metrics(url, name string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		le := ""
		if rest[0] == '{' {
			labels, after, _ := strings.Cut(rest[1:], "}")
			for _, l := range strings.Split(labels, ",") {
				if v, ok := strings.CutPrefix(l, `le="`); ok {
					le = strings.TrimSuffix(v, `"`)
				}
			}
			rest = after
		}
		v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		out[le] += v
	}
	return out
}

// statFields returns the fields of /proc/pid/stat after the command name.
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return nil
	}
	return strings.Fields(s[i+2:])
}

// pgTicks is the CPU time of the PostgreSQL server in clock ticks: the
// postmaster, its live children, and the children that have exited
// (cutime, cstime), so that backends ending between two readings still
// count.
func pgTicks(dataDir string) int64 {
	pm, children := postgresPIDs(dataDir)
	if pm == 0 {
		return 0
	}
	num := func(f []string, i int) int64 {
		if len(f) <= i {
			return 0
		}
		n, _ := strconv.ParseInt(f[i], 10, 64)
		return n
	}
	f := statFields(pm)
	t := num(f, 11) + num(f, 12) + num(f, 13) + num(f, 14)
	for _, pid := range children {
		cf := statFields(pid)
		t += num(cf, 11) + num(cf, 12)
	}
	return t
}

// postgresPIDs is the postmaster of the cluster in dataDir (0 if it is
// not running) and its live children.
func postgresPIDs(dataDir string) (postmaster int, children []int) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, nil
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0, nil
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(pid); len(f) > 1 && f[1] == strconv.Itoa(pm) {
			children = append(children, pid)
		}
	}
	return pm, children
}
