// Command loadrun is the harness of patronfed's load runs (make bench,
// make bench-full; results in docs/performance.md). It starts a private
// durable PostgreSQL (fsync and synchronous_commit on), migrates and seeds
// a generated consortium (package bench/seed) once, builds and starts
// `patronfed serve` and the baselines (bench/baseline: the bare one, and one
// doing GetPatron's own read and answer) as separate
// processes, and drives them with ghz and Go gRPC clients. Every phase is
// bounded in time; results go to stdout as Markdown and to -out as JSON.
//
//	go run ./bench/loadrun -patrons 1000000 -phases getpatron,search,circulation,retention,memory
//
// The phase "restart" restarts PostgreSQL, so "search,restart,search"
// measures the searches warm and right after a restart; "restart-empty"
// restarts it with empty shared buffers (as without autoprewarm).
// "anonymise" times retention.AnonymisePatron for sampled patrons, each in
// a rolled-back transaction.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/patronfed/patronfed/bench/seed"
	"github.com/patronfed/patronfed/demo"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/pglocal"
	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/policystore"
	"github.com/patronfed/patronfed/store"
)

type flags struct {
	dir, phases, out, ghz string
	pgPort                int
	patrons, libraries    int
	duration, warmup      time.Duration
	conc                  []int
	connections           int
	rounds                int
	memDuration           time.Duration
	retentionRPS          int
	retentionArgs         string
	retentionIdle         time.Duration
	retentionPrewarm      bool
	retentionNice         int
	waitSample            time.Duration
	retentionGhz          string
	serveArgs, serveEnv   string
	pprof                 bool
	baselineWrite         bool
	baselineReads         []string
}

type harness struct {
	f         flags
	ctx       context.Context
	pg        *pglocal.Server
	dbName    string
	url       string // superuser
	keys      keys
	bin       string // dir/bin
	serve     *proc
	baselines []baseline
	results   map[string]any
	md        io.Writer
	searches  int // search phases run so far
}

const (
	serveGRPC   = "127.0.0.1:19090"
	serveHTTP   = "127.0.0.1:18080"
	serveMetric = "127.0.0.1:19464"
	baseGRPC    = "127.0.0.1:19091" // the first baseline; the next on the ports after it
	pprofAddr   = "127.0.0.1:16060"
)

func main() {
	var f flags
	var conc string
	flag.StringVar(&f.dir, "dir", filepath.Join(os.TempDir(), "patronfed-bench"), "working directory: the PostgreSQL cluster (seeded once per size), keys, binaries, logs, profiles")
	flag.IntVar(&f.pgPort, "pg-port", 25432, "port of the bench PostgreSQL (127.0.0.1; below the ephemeral range, where a client connection's TIME_WAIT can hold a port)")
	flag.IntVar(&f.patrons, "patrons", 1_000_000, "patrons of the generated consortium (5 loans each); one database per size, seeded once")
	flag.IntVar(&f.libraries, "libraries", 30, "member libraries")
	flag.StringVar(&f.phases, "phases", "getpatron,search,circulation,retention,memory", "phases to run, comma separated (getpatron, search, circulation, holds, extract, retention, anonymise, memory); restart and restart-empty restart PostgreSQL")
	flag.DurationVar(&f.duration, "duration", 20*time.Second, "length of one measured ghz window")
	flag.DurationVar(&f.warmup, "warmup", 5*time.Second, "unmeasured warm-up before each server's first window")
	flag.StringVar(&conc, "c", "1,16", "ghz concurrency levels for getpatron")
	flag.IntVar(&f.connections, "connections", 8, "gRPC connections ghz spreads its workers over (at most the concurrency)")
	flag.IntVar(&f.rounds, "rounds", 2, "alternating baseline/server windows per concurrency level")
	flag.DurationVar(&f.memDuration, "mem-duration", 5*time.Minute, "length of the memory run")
	flag.StringVar(&f.retentionArgs, "retention-args", "", "extra flags for patronfed retention run (space separated), e.g. --pause 0")
	flag.IntVar(&f.retentionNice, "retention-nice", 0, "renice the PostgreSQL backends of the retention run to this value at each 10 s window (a diagnostic of CPU scheduling; needs root; 0 = leave them)")
	flag.StringVar(&f.retentionGhz, "retention-ghz", "one", "how the retention phase reads: one ghz process through the idle window and the run, its requests split into windows by their start (one), or a ghz process per 10 s window (windows, rounds 1-7: each process's first second is slower)")
	flag.DurationVar(&f.waitSample, "wait-sample", 0, "sample pg_stat_activity at this interval during the retention phase's windows and report what the server's and the run's backends wait for (a diagnostic: one catalogue query per interval; 0 = off)")
	flag.BoolVar(&f.retentionPrewarm, "retention-prewarm", false, "load the clone's loans, items and their indexes into shared buffers before the retention phase's idle window (a diagnostic)")
	flag.DurationVar(&f.retentionIdle, "retention-idle", time.Minute, "length of the idle GetPatron window before the retention run")
	flag.IntVar(&f.retentionRPS, "retention-rps", 300, "fixed GetPatron rate while the retention run works")
	flag.StringVar(&f.out, "out", "", "write the results as JSON here")
	flag.StringVar(&f.ghz, "ghz", "bin/ghz", "ghz binary")
	flag.StringVar(&f.serveArgs, "serve-args", "", "extra flags for patronfed serve (space separated)")
	flag.StringVar(&f.serveEnv, "serve-env", "", "extra environment for patronfed serve, e.g. GOGC=200 (space separated)")
	reads := flag.String("baseline-read", "row,view", "the baselines, each alternated with patronfed: row (the bare baseline: the patrons row) and/or view (GetPatron's own read and answer); bench/baseline -read")
	flag.BoolVar(&f.baselineWrite, "baseline-write", false, "every baseline also writes one durable row per read (bench/baseline -durable-write)")
	flag.BoolVar(&f.pprof, "pprof", false, "build the server with -tags pprof and save a CPU profile of its first window at each concurrency in -dir")
	flag.Parse()
	if f.retentionGhz != "one" && f.retentionGhz != "windows" {
		log.Fatalf("-retention-ghz %q: one or windows", f.retentionGhz)
	}
	for _, s := range strings.Split(conc, ",") {
		var n int
		fmt.Sscan(s, &n)
		if n > 0 {
			f.conc = append(f.conc, n)
		}
	}
	for _, r := range strings.Split(*reads, ",") {
		if r != "row" && r != "view" {
			log.Fatalf("-baseline-read %q: want row, view or both", *reads)
		}
		f.baselineReads = append(f.baselineReads, r)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := &harness{f: f, ctx: ctx, results: map[string]any{}, md: os.Stdout}
	if err := h.run(); err != nil {
		log.Fatal(err)
	}
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadrun: "+format+"\n", args...)
}

func (h *harness) run() error {
	defer h.stopServers()
	abs, err := filepath.Abs(h.f.dir)
	if err != nil {
		return err
	}
	h.f.dir = abs
	h.bin = filepath.Join(abs, "bin")
	if err := os.MkdirAll(h.bin, 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(h.f.ghz); err != nil {
		return fmt.Errorf("ghz not found at %s: run make bench-tools (or make bin/.ghz-<version>)", h.f.ghz)
	}
	if h.f.ghz, err = filepath.Abs(h.f.ghz); err != nil {
		return err
	}
	h.logf("building patronfed and the baseline")
	for _, b := range [][2]string{{"patronfed", "./cmd/patronfed"}, {"baseline", "./bench/baseline"}} {
		args := []string{"build", "-o", filepath.Join(h.bin, b[0])}
		if h.f.pprof && b[0] == "patronfed" {
			args = append(args, "-tags", "pprof")
		}
		cmd := exec.CommandContext(h.ctx, "go", append(args, b[1])...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w", b[1], err)
		}
	}
	h.logf("starting PostgreSQL in %s", filepath.Join(abs, "pg"))
	if h.pg, err = startPG(h.ctx, abs, h.f.pgPort); err != nil {
		return err
	}
	defer func() { h.pg.Stop() }() // the restart phase replaces h.pg
	if h.keys, err = loadKeys(filepath.Join(abs, "keys.env")); err != nil {
		return err
	}
	h.dbName = fmt.Sprintf("bench_%d_%d_v%d", h.f.patrons, h.f.libraries, seed.Version)
	if err := h.prepareDB(h.dbName); err != nil {
		return err
	}
	fmt.Fprintf(h.md, "# loadrun %s\n\nmachine: %d CPUs (GOMAXPROCS %d), %s; PostgreSQL durable (fsync on, synchronous_commit on); database %s\n\n",
		time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.GOMAXPROCS(0), memTotal(), h.dbName)
	for _, ph := range strings.Split(h.f.phases, ",") {
		start := time.Now()
		h.logf("phase %s", ph)
		var err error
		switch strings.TrimSpace(ph) {
		case "getpatron":
			err = h.getPatron()
		case "search":
			err = h.search()
		case "circulation":
			err = h.circulation()
		case "holds":
			err = h.holds()
		case "extract":
			err = h.extract()
		case "retention":
			err = h.retention()
		case "anonymise":
			err = h.anonymise()
		case "memory":
			err = h.memory()
		case "restart":
			err = h.restartPG(false)
		case "restart-empty":
			err = h.restartPG(true)
		case "":
			continue
		default:
			err = fmt.Errorf("unknown phase %q", ph)
		}
		if err != nil {
			return fmt.Errorf("phase %s: %w", ph, err)
		}
		h.logf("phase %s done in %s", ph, time.Since(start).Round(time.Second))
	}
	if h.f.out != "" {
		b, _ := json.MarshalIndent(h.results, "", "  ")
		if err := os.WriteFile(h.f.out, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return fmt.Sprintf("%.0f GiB RAM", float64(kb)/(1<<20))
		}
	}
	return "? RAM"
}

// activateBuiltin makes this tree's built-in policy the active one, as an
// operator does after upgrading: a server stores a newer release's
// built-in policy as a candidate and never activates it itself, so a
// database seeded by an older tree would otherwise keep deciding with the
// policy of that tree.
func activateBuiltin(ctx context.Context, pool *pgxpool.Pool) error {
	st := policystore.New(pool)
	if err := st.EnsureBuiltin(ctx, time.Now()); err != nil {
		return err
	}
	sum, err := policystore.Hash(policy.Builtin())
	if err != nil {
		return err
	}
	var v int64
	if err := pool.QueryRow(ctx, `SELECT max(version) FROM policy_bundles WHERE sha256 = $1`, sum).Scan(&v); err != nil {
		return fmt.Errorf("finding the built-in policy: %w", err)
	}
	_, err = st.Activate(ctx, v, policystore.Actor{Username: "loadrun"}, time.Now())
	return err
}

// createBaselineReads creates the table the baseline's -durable-write
// appends to: an identity key and two columns, the least an append-only
// log can be.
func (h *harness) createBaselineReads(url string) error {
	conn, err := pgx.Connect(h.ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(h.ctx)
	_, err = conn.Exec(h.ctx, `CREATE TABLE IF NOT EXISTS bench_baseline_reads (
		id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, patron_id uuid NOT NULL, at timestamptz NOT NULL);
		GRANT INSERT ON bench_baseline_reads TO patronfed_app`)
	return err
}

// restartPG stops PostgreSQL and starts it again: the phases after it see
// the shared buffers a restart leaves, refilled by autoprewarm (which the
// bench cluster loads; see tuning). With empty, the list autoprewarm wrote
// at shutdown is deleted first, so they start empty: a restart without
// autoprewarm, for comparison.
func (h *harness) restartPG(empty bool) error {
	if err := h.pg.Stop(); err != nil {
		return err
	}
	if empty {
		if err := os.Remove(filepath.Join(h.pg.Dir(), "autoprewarm.blocks")); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	start := time.Now()
	pg, err := startPG(h.ctx, h.f.dir, h.f.pgPort)
	if err != nil {
		return err
	}
	h.pg = pg
	h.logf("PostgreSQL restarted in %s (shared buffers: %s)", time.Since(start).Round(time.Millisecond),
		map[bool]string{true: "empty", false: "autoprewarm"}[empty])
	return nil
}

// prepareDB creates, migrates and (once) seeds the database.
func (h *harness) prepareDB(name string) error {
	if err := h.pg.EnsureDatabase(h.ctx, name); err != nil {
		return err
	}
	h.url = h.pg.URL(name)
	if err := store.MigrateUp(h.ctx, h.url); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	pool, err := pgxpool.New(h.ctx, h.url)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pool.Exec(h.ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return err
	}
	if err := activateBuiltin(h.ctx, pool); err != nil {
		return err
	}
	var n int
	if err := pool.QueryRow(h.ctx, `SELECT count(*) FROM libraries WHERE code = 'LIB01'`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		h.logf("database %s is seeded already", name)
		return nil
	}
	kr, err := pii.ParseKeyring(h.keys.pii, h.keys.index)
	if err != nil {
		return err
	}
	h.logf("seeding %d patrons (COPY)", h.f.patrons)
	res, err := seed.Run(h.ctx, pool, kr, seed.Options{Patrons: h.f.patrons, Libraries: h.f.libraries,
		Progress: os.Stderr, Password: demo.Password, PIN: demo.PIN})
	if err != nil {
		return err
	}
	h.results["seed"] = res
	h.logf("seeded in %s: %d patrons, %d loans (%d active, %d past retention), %d items of %d titles, %d reservations (%d waiting, of them %d in titles' queues; %d on hold shelves), %d audit entries",
		res.Duration.Round(time.Second), res.Patrons, res.Loans, res.ActiveLoans, res.ExpiredLoans, res.Items, res.Records,
		res.Reservations, res.Waiting, res.TitleWaiting, res.Ready, res.AuditEntries)
	return nil
}

func (h *harness) serveEnv(url string) []string {
	return append([]string{
		"DATABASE_URL=" + url,
		"PATRONFED_DB_ROLE=patronfed_app",
		"PATRONFED_GRPC_ADDR=" + serveGRPC,
		"PATRONFED_HTTP_ADDR=" + serveHTTP,
		"PATRONFED_METRICS_ADDR=" + serveMetric,
		"PATRONFED_TOKEN_KEYS=" + h.keys.token,
		"PATRONFED_PII_KEYS=" + h.keys.pii,
		"PATRONFED_PII_INDEX_KEY=" + h.keys.index,
		"PATRONFED_TOKEN_TTL=12h",
		"PATRONFED_LOG_LEVEL=info",
		"PATRONFED_PPROF_ADDR=" + pprofAddr,
	}, strings.Fields(h.f.serveEnv)...)
}

// startServe starts `patronfed serve` on database url.
func (h *harness) startServe(url string) error {
	h.serve.stop()
	args := append([]string{"serve"}, strings.Fields(h.f.serveArgs)...)
	p, err := startProc("serve", filepath.Join(h.f.dir, "serve.log"), h.serveEnv(url), filepath.Join(h.bin, "patronfed"), args...)
	if err != nil {
		return err
	}
	h.serve = p
	return waitHTTP(h.ctx, "http://"+serveHTTP+"/healthz", 60*time.Second)
}

// baseline is one bench/baseline process of a run.
type baseline struct {
	read string // bench/baseline -read
	name string // in the tables
	addr string
	p    *proc
}

// startBaselines starts one baseline per -baseline-read, each on its own
// port.
func (h *harness) startBaselines(url string) error {
	h.stopBaselines()
	if h.f.baselineWrite {
		if err := h.createBaselineReads(url); err != nil {
			return err
		}
	}
	host, port, err := net.SplitHostPort(baseGRPC)
	if err != nil {
		return err
	}
	first, err := strconv.Atoi(port)
	if err != nil {
		return err
	}
	for i, read := range h.f.baselineReads {
		b := baseline{read: read, name: "baseline", addr: net.JoinHostPort(host, strconv.Itoa(first+i))}
		if read == "view" {
			b.name = "baseline (view)"
		}
		args := []string{"-addr", b.addr, "-database-url", url, "-read", read}
		if h.f.baselineWrite {
			args = append(args, "-durable-write")
		}
		if b.p, err = startProc(b.name, filepath.Join(h.f.dir, "baseline-"+read+".log"), nil, filepath.Join(h.bin, "baseline"), args...); err != nil {
			return err
		}
		h.baselines = append(h.baselines, b)
		if err := h.waitBaseline(b.addr); err != nil {
			return err
		}
	}
	return nil
}

// waitBaseline returns when the baseline at addr answers a bogus id with
// NotFound.
func (h *harness) waitBaseline(addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	c := pb.NewPatronServiceClient(conn)
	for range 100 {
		ctx, cancel := context.WithTimeout(h.ctx, time.Second)
		_, err = c.GetPatron(ctx, &pb.GetPatronRequest{PatronId: "00000000-0000-4000-8000-000000000000"})
		cancel()
		if err != nil && !strings.Contains(err.Error(), "connection refused") && !strings.Contains(err.Error(), "Unavailable") {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("baseline at %s did not come up: %v", addr, err)
}

func (h *harness) stopBaselines() {
	for _, b := range h.baselines {
		b.p.stop()
	}
	h.baselines = nil
}

func (h *harness) stopServers() {
	h.serve.stop()
	h.serve = nil
	h.stopBaselines()
}

// login returns a token for a generated staff account.
func (h *harness) login(username string) (string, error) {
	conn, err := grpc.NewClient(serveGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	resp, err := pb.NewAuthServiceClient(conn).Login(h.ctx, &pb.LoginRequest{Username: username, Password: demo.Password})
	if err != nil {
		return "", fmt.Errorf("login %s: %w", username, err)
	}
	return resp.GetToken(), nil
}

// servePool starts patronfed serve on the phase's database and returns a
// superuser pool on it, for a phase that sets up its load in SQL.
func (h *harness) servePool() (*pgxpool.Pool, error) {
	if err := h.startServe(h.url); err != nil {
		return nil, err
	}
	return h.pool(h.url, false)
}

func (h *harness) pool(url string, role bool) (*pgxpool.Pool, error) {
	o := store.PoolOptions{MaxConns: 8, ApplicationName: "loadrun"}
	if role {
		o.AppRole = "patronfed_app"
	}
	return store.Open(h.ctx, url, o)
}

func (h *harness) libraryID(pool *pgxpool.Pool, code string) (string, error) {
	var id string
	err := pool.QueryRow(h.ctx, `SELECT id::text FROM libraries WHERE code = $1`, code).Scan(&id)
	return id, err
}

// getPatronLoad is what the GetPatron load of several phases needs: a ghz
// data file of 5000 LIB01 patrons and a token of lib01.circ, who reads them.
func (h *harness) getPatronLoad(url string) (data, token string, err error) {
	pool, err := h.pool(url, false)
	if err != nil {
		return "", "", err
	}
	data, err = h.patronIDsFile(pool, "LIB01", 5000)
	pool.Close()
	if err != nil {
		return "", "", err
	}
	token, err = h.login("lib01.circ")
	return data, token, err
}

// patronIDsFile writes a ghz data file of GetPatron requests for n
// patrons of library code (spread over the id space) and returns its path.
func (h *harness) patronIDsFile(pool *pgxpool.Pool, code string, n int) (string, error) {
	lib, err := h.libraryID(pool, code)
	if err != nil {
		return "", err
	}
	rows, err := pool.Query(h.ctx, `SELECT id::text FROM patrons WHERE home_library_id = $1 AND anonymised_at IS NULL
		ORDER BY md5(id::text) LIMIT $2`, lib, n)
	if err != nil {
		return "", err
	}
	var reqs []map[string]string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return "", err
		}
		reqs = append(reqs, map[string]string{"patron_id": id})
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	path := filepath.Join(h.f.dir, "getpatron-"+code+".json")
	b, _ := json.Marshal(reqs)
	return path, os.WriteFile(path, b, 0o644)
}
