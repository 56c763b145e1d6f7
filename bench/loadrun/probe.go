package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// probe is what the retention phase reads at each window's edges to tell
// where a GetPatron tail comes from: the disks (diskSample), the CPU time
// of the machine and of each process, and the server's own histograms of
// handling time, of its database statements and pool, and of the audit
// wait and group commit. All of it is
// /proc files and one /metrics page, light enough to read beside a
// measurement.
type probe struct {
	disk                        diskSample
	machine, pg, serve, other   int64 // CPU ticks; other: the retention process
	handled, wait, commit       map[string]float64
	waitSum, waitN              float64
	commitSum, commitN, entries float64
	stmt                        map[string]float64 // the server's statements (patronfed_db_statement_seconds)
	stmtSum                     float64
	acquires, acquireSecs       float64 // the server's pool
	empty                       float64 // acquisitions that waited for a connection
	serveRunq, pgRunq           int64   // ns runnable but waiting for a CPU
}

func (h *harness) probe(otherPID int) probe {
	url := "http://" + serveMetric + "/metrics"
	p := probe{disk: sampleDisk(), machine: machineTicks(), pg: pgTicks(h.pg.Dir())}
	if h.serve != nil {
		p.serve = cpuTicks(h.serve.pid())
		p.serveRunq = runQueueWait(h.serve.pid())
	}
	p.pgRunq = pgRunQueueWait(h.pg.Dir())
	if otherPID > 0 {
		p.other = cpuTicks(otherPID)
	}
	p.handled = metrics(url, "patronfed_grpc_server_handling_seconds_bucket")
	p.wait = metrics(url, "patronfed_audit_record_seconds_bucket")
	p.commit = metrics(url, "patronfed_audit_commit_seconds_bucket")
	p.waitSum, p.waitN = metric(url, "patronfed_audit_record_seconds_sum"), metric(url, "patronfed_audit_record_seconds_count")
	p.commitSum, p.commitN = metric(url, "patronfed_audit_commit_seconds_sum"), metric(url, "patronfed_audit_commit_seconds_count")
	p.entries = metric(url, "patronfed_audit_commit_entries_sum")
	p.stmt, p.stmtSum = metrics(url, "patronfed_db_statement_seconds_bucket"), metric(url, "patronfed_db_statement_seconds_sum")
	p.acquires, p.acquireSecs = metric(url, "patronfed_db_pool_acquires_total"), metric(url, "patronfed_db_pool_acquire_seconds_total")
	p.empty = metric(url, "patronfed_db_pool_empty_acquires_total")
	return p
}

// describe says what happened between a and b.
func (b probe) describe(a probe) string {
	secs := b.disk.at.Sub(a.disk.at).Seconds()
	cores := func(t0, t1 int64) float64 { return float64(max(t1-t0, 0)) * tickUS / 1e6 / secs }
	over := func(m0, m1 map[string]float64, bound string) float64 {
		n := m1["+Inf"] - m0["+Inf"]
		if n <= 0 {
			return 0
		}
		return 100 * (n - (m1[bound] - m0[bound])) / n
	}
	mean := func(s0, s1, n0, n1 float64) string {
		if n1-n0 <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f ms", (s1-s0)/(n1-n0)*1e3)
	}
	bound := func(m0, m1 map[string]float64) string {
		n := m1["+Inf"] - m0["+Inf"]
		if n <= 0 {
			return "–"
		}
		us := p99Bound(m0, m1, n)
		if math.IsInf(us, 1) {
			return "> top bucket"
		}
		return fmt.Sprintf("≤ %s", time.Duration(us*1e3))
	}
	perCommit := "–"
	if n := b.commitN - a.commitN; n > 0 {
		perCommit = fmt.Sprintf("%.1f", (b.entries-a.entries)/n)
	}
	runq := func(t0, t1 int64) string {
		n := b.handled["+Inf"] - a.handled["+Inf"]
		if n <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f µs", float64(t1-t0)/1e3/n)
	}
	return fmt.Sprintf("CPU (cores) machine %.2f, PostgreSQL %.2f, serve %.2f, retention %.2f; "+
		"waiting for a CPU per request: serve %s, PostgreSQL %s; "+
		"handler p99 %s, %.1f %% over 20 ms; server's statements mean %s, p99 %s, %.2f %% over 20 ms; pool acquire mean %s, %.0f waited; "+
		"audit wait mean %s, p99 %s; group commit mean %s, p99 %s, %s entries each; %s",
		cores(a.machine, b.machine), cores(a.pg, b.pg), cores(a.serve, b.serve), cores(a.other, b.other),
		runq(a.serveRunq, b.serveRunq), runq(a.pgRunq, b.pgRunq),
		bound(a.handled, b.handled), over(a.handled, b.handled, "0.02"),
		mean(a.stmtSum, b.stmtSum, a.stmt["+Inf"], b.stmt["+Inf"]), bound(a.stmt, b.stmt), over(a.stmt, b.stmt, "0.02"),
		mean(a.acquireSecs, b.acquireSecs, a.acquires, b.acquires), b.empty-a.empty,
		mean(a.waitSum, b.waitSum, a.waitN, b.waitN), bound(a.wait, b.wait),
		mean(a.commitSum, b.commitSum, a.commitN, b.commitN), bound(a.commit, b.commit), perCommit,
		diskDelta(a.disk, b.disk))
}

// statementTails connects to url and reads pg_stat_statements since its
// last reset: the statements that took the most time, each with its calls
// and mean, standard deviation and maximum execution time, then resets
// it for the next window. The retention phase reads it at each window's
// end: one query per window.
func (h *harness) statementTails(url string, n int) string {
	c, err := pgx.Connect(h.ctx, url)
	if err != nil {
		return "statements: " + err.Error()
	}
	defer c.Close(h.ctx)
	rows, err := c.Query(h.ctx, `SELECT calls, mean_exec_time, stddev_exec_time, max_exec_time,
			left(regexp_replace(query, '\s+', ' ', 'g'), 48)
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY total_exec_time DESC LIMIT $1`, n)
	if err != nil {
		return "statements: " + err.Error()
	}
	var parts []string
	for rows.Next() {
		var calls int64
		var mean, sd, mx float64
		var q string
		if err := rows.Scan(&calls, &mean, &sd, &mx, &q); err != nil {
			return "statements: " + err.Error()
		}
		parts = append(parts, fmt.Sprintf("[%s…] %d× mean %.2f sd %.2f max %.1f ms", q, calls, mean, sd, mx))
	}
	_, _ = c.Exec(h.ctx, `SELECT pg_stat_statements_reset()`)
	return "statements: " + strings.Join(parts, "; ")
}

// runQueueWait is the time the threads of pid have spent runnable but
// waiting for a CPU, in ns (the second field of schedstat), summed over
// the process's threads.
func runQueueWait(pid int) int64 {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var total int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) >= 2 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			total += n
		}
	}
	return total
}

// pgRunQueueWait is runQueueWait over the PostgreSQL server's processes.
func pgRunQueueWait(dataDir string) int64 {
	pm, children := postgresPIDs(dataDir)
	if pm == 0 {
		return 0
	}
	total := runQueueWait(pm)
	for _, pid := range children {
		total += runQueueWait(pid)
	}
	return total
}
