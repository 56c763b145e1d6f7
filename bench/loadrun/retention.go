package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

type retentionResult struct {
	CloneTime, RunTime   time.Duration
	ExpiredBefore        int64
	ExpiredAfter         int64
	IdleP50, IdleP99     time.Duration
	DuringP50, DuringP99 time.Duration
	IdleN, DuringN       int
	// IdleSettledP99 and DuringSettledP99 leave out the first second of
	// each ghz process (windowLatencies).
	IdleSettledP99, DuringSettledP99 time.Duration
	IdleProbe                        string // what the machine and server did in the idle window
	Errors                           int64
	ErrorMessages                    map[string]int64 // ghz's messages of the counted errors
	// ErrorsOutside: failed requests of the one ghz process that started
	// outside the idle and run windows (before them, or after the run).
	ErrorsOutside int64
	RPS           int
	Output        string
	// Windows is each 10 s window during the run: its p99 and the run's
	// progress line at its end, to tell which step a tail comes from.
	Windows []string
}

// retention runs `patronfed retention run` (a separate process, as the
// operator's cron would) on a clone of the seeded database, while ghz
// reads patrons at a fixed rate; the same rate is measured idle first.
func (h *harness) retention() error {
	h.stopServers()
	clone := h.dbName + "_retention"
	admin, err := pgx.Connect(h.ctx, h.pg.URL("postgres"))
	if err != nil {
		return err
	}
	defer admin.Close(h.ctx)
	_, _ = admin.Exec(h.ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{clone}.Sanitize())
	_, _ = admin.Exec(h.ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, h.dbName)
	res := retentionResult{RPS: h.f.retentionRPS}
	t := time.Now()
	if _, err := admin.Exec(h.ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s STRATEGY FILE_COPY",
		pgx.Identifier{clone}.Sanitize(), pgx.Identifier{h.dbName}.Sanitize())); err != nil {
		return fmt.Errorf("cloning the database: %w", err)
	}
	res.CloneTime = time.Since(t)
	defer func() {
		h.stopServers()
		_, _ = admin.Exec(context.WithoutCancel(h.ctx), "DROP DATABASE IF EXISTS "+pgx.Identifier{clone}.Sanitize()+" WITH (FORCE)")
	}()
	url := h.pg.URL(clone)
	expired := func() int64 {
		var n int64
		c, err := pgx.Connect(h.ctx, url)
		if err != nil {
			return -1
		}
		defer c.Close(h.ctx)
		_ = c.QueryRow(h.ctx, `SELECT count(*) FROM loans l JOIN library_settings s ON s.library_id = l.lending_library_id
			WHERE l.patron_id IS NOT NULL AND l.returned_at < now() - make_interval(months => s.history_retention_months)`).Scan(&n)
		return n
	}
	res.ExpiredBefore = expired()
	if h.f.retentionPrewarm {
		// A diagnostic: the run's tables and indexes in shared buffers
		// before the idle window, to tell cold reads from the rest.
		c, err := pgx.Connect(h.ctx, h.pg.URL(clone))
		if err != nil {
			return err
		}
		_, err = c.Exec(h.ctx, `CREATE EXTENSION IF NOT EXISTS pg_prewarm;
			SELECT pg_prewarm(c.oid) FROM pg_class c
			WHERE c.relkind IN ('r', 'i') AND (c.oid IN ('loans'::regclass, 'items'::regclass)
			   OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN ('loans'::regclass, 'items'::regclass)))`)
		c.Close(h.ctx)
		if err != nil {
			return fmt.Errorf("prewarming the clone: %w", err)
		}
	}
	if err := h.startServe(url); err != nil {
		return err
	}
	data, token, err := h.getPatronLoad(url)
	if err != nil {
		return err
	}
	g := ghzRun{Call: "patronfed.v1.PatronService.GetPatron", Target: serveGRPC, DataFile: data, Token: token,
		Concurrency: 16, Connections: 8, RPS: h.f.retentionRPS, Details: true}
	window := func(d time.Duration) (windowLatencies, int64, error) {
		g.Duration = d
		r, err := g.run(h.ctx, h.f.ghz)
		if err != nil {
			return windowLatencies{}, 0, err
		}
		res.noteErrors(r)
		return splitWindow(r, time.Time{}, time.Time{}), r.errors(), nil
	}
	// The clone starts cold in shared buffers (its pages are new buffers
	// to PostgreSQL), so warm it longer than other phases before the idle
	// window, which is as long as a short retention run.
	if _, _, err := window(max(h.f.warmup, 20*time.Second)); err != nil {
		return err
	}
	// One ghz process reads through the idle window and the run
	// (-retention-ghz one, the default), its requests assigned to windows
	// by their start; or one process per 10 s window (windows, rounds 1-7).
	var long *ghzProc
	if h.f.retentionGhz == "one" {
		g.Duration = time.Hour
		if long, err = g.start(h.ctx, h.f.ghz); err != nil {
			return err
		}
		defer long.kill()
		time.Sleep(2 * time.Second) // past the process's start
	}
	type span struct {
		from, to time.Time
		lat      windowLatencies
		note     string
	}
	// measure reads for d, or until stop says the run has ended (one
	// process only: a window process runs its whole length).
	measure := func(d time.Duration, stop <-chan struct{}) (span, error) {
		sp := span{from: time.Now()}
		if long == nil {
			l, errs, err := window(d)
			res.Errors += errs
			sp.lat, sp.to = l, time.Now()
			return sp, err
		}
		select {
		case <-time.After(d):
		case <-stop:
		}
		sp.to = time.Now()
		return sp, nil
	}
	h.statementTails(url, 0) // resets
	p0, w0, ws := h.probe(0), h.walSample(url), h.waitSampler(url)
	var idleSpans []span
	if long != nil {
		sp, _ := measure(h.f.retentionIdle, nil)
		idleSpans = append(idleSpans, sp)
	} else {
		// Idle is measured as the run is: in 10 s ghz processes back to
		// back, so that both sides have as many process starts.
		for range max(1, int(h.f.retentionIdle/retentionWindow)) {
			sp, err := measure(retentionWindow, nil)
			if err != nil {
				return err
			}
			idleSpans = append(idleSpans, sp)
		}
	}
	res.IdleProbe = h.probe(0).describe(p0) + "; " + h.walSample(url).describe(w0) + "; " + ws.finish() + h.statementTails(url, 4)

	// The retention run, measured in 10 s windows until it ends.
	out, err := os.Create(filepath.Join(h.f.dir, "retention.log"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.CommandContext(h.ctx, filepath.Join(h.bin, "patronfed"),
		append([]string{"retention", "run", "--database-url", url}, strings.Fields(h.f.retentionArgs)...)...)
	cmd.Stdout, cmd.Stderr = out, out
	t = time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	ended := make(chan struct{})
	var runErr error
	var end time.Time
	go func() { runErr = cmd.Wait(); end = time.Now(); close(ended) }()
	var spans []span
	for finished := false; !finished; {
		if h.f.retentionNice != 0 {
			h.reniceRetention(url, h.f.retentionNice)
		}
		p0, w0, ws := h.probe(cmd.Process.Pid), h.walSample(url), h.waitSampler(url)
		sp, err := measure(retentionWindow, ended)
		if err != nil {
			return err
		}
		b, _ := os.ReadFile(out.Name())
		sp.note = fmt.Sprintf("%s (%s)", h.probe(cmd.Process.Pid).describe(p0)+"; "+h.walSample(url).describe(w0)+"; "+ws.finish()+h.statementTails(url, 4),
			strings.TrimSpace(tail(string(b), 1)))
		spans = append(spans, sp)
		select {
		case <-ended:
			finished = true
		default:
		}
		if time.Since(t) > 45*time.Minute {
			_ = cmd.Process.Kill()
			return fmt.Errorf("retention run did not finish in 45 minutes")
		}
	}
	if runErr != nil {
		return fmt.Errorf("retention run: %w (see %s)", runErr, out.Name())
	}
	if long != nil {
		r, err := long.stop()
		if err != nil {
			return err
		}
		// Only the requests that started in the measured windows count:
		// one still in flight when ghz is stopped after the run fails
		// with "transport is closing", and belongs to no window.
		inside, msgs := r.errorsBetween(idleSpans[0].from, spans[len(spans)-1].to)
		res.Errors += inside
		res.ErrorsOutside = r.errors() - inside
		if inside > 0 {
			res.ErrorMessages = msgs
		}
		for _, sps := range [][]span{idleSpans, spans} {
			for i := range sps {
				sps[i].lat = splitWindow(r, sps[i].from, sps[i].to)
			}
		}
	}
	var idle, during windowLatencies
	for _, sp := range idleSpans {
		idle.add(sp.lat)
	}
	res.IdleProbe += "; " + idle.starts()
	for _, sp := range spans {
		during.add(sp.lat)
		res.Windows = append(res.Windows, fmt.Sprintf("%s; %s; %s", ms(sp.lat.all.pct(99)), sp.note, sp.lat.starts()))
	}
	res.IdleN, res.IdleP50, res.IdleP99 = len(idle.all), idle.all.pct(50), idle.all.pct(99)
	res.IdleSettledP99 = idle.settled.pct(99)
	res.DuringN, res.DuringP50, res.DuringP99 = len(during.all), during.all.pct(50), during.all.pct(99)
	res.DuringSettledP99 = during.settled.pct(99)
	res.RunTime = end.Sub(t)
	res.ExpiredAfter = expired()
	b, _ := os.ReadFile(out.Name())
	res.Output = string(b)
	h.results["retention"] = res
	fmt.Fprintf(h.md, "## Retention run over the expired loan history\n\n`patronfed retention run %s` (separate process) on a clone of the seeded database (clone: %s), while ghz reads patrons at %d req/s (c=16); the same rate measured idle just before (ghz: %s).\n\n",
		h.f.retentionArgs, res.CloneTime.Round(time.Second), res.RPS, map[bool]string{true: "one process through both", false: "a process per 10 s window"}[long != nil])
	fmt.Fprintf(h.md, "| expired loans before | after | run time | GetPatron p50 idle | p99 idle | p50 during | p99 during | p99 ratio | requests idle/during | errors |\n|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(h.md, "| %d | %d | %s | %s | %s | %s | %s | %.2f× | %d/%d | %d |\n\n", res.ExpiredBefore, res.ExpiredAfter,
		res.RunTime.Round(100*time.Millisecond), ms(res.IdleP50), ms(res.IdleP99), ms(res.DuringP50), ms(res.DuringP99),
		ratio(res.DuringP99, res.IdleP99), res.IdleN, res.DuringN, res.Errors)
	if res.ErrorsOutside > 0 {
		fmt.Fprintf(h.md, "failed requests outside the windows (not counted): %d\n\n", res.ErrorsOutside)
	}
	if res.Errors > 0 {
		fmt.Fprintf(h.md, "errors reported by ghz: %v\n\n", res.ErrorMessages)
	}
	if long == nil {
		fmt.Fprintf(h.md, "Leaving out the first second of every 10 s ghz process: p99 idle %s, during %s, ratio %.2f×.\n\n",
			ms(res.IdleSettledP99), ms(res.DuringSettledP99), ratio(res.DuringSettledP99, res.IdleSettledP99))
	}
	fmt.Fprintf(h.md, "Idle window: %s.\n\n", res.IdleProbe)
	fmt.Fprintf(h.md, "GetPatron p99 (ghz) per 10 s window during the run; what the machine, the server and the disks did in it; the run's progress at its end:\n\n")
	for _, w := range res.Windows {
		fmt.Fprintf(h.md, "- %s\n", w)
	}
	fmt.Fprintf(h.md, "\nretention output (tail):\n\n```\n%s```\n\n", tail(res.Output, 25))
	return nil
}

// noteErrors keeps the messages of the errors r counts.
func (res *retentionResult) noteErrors(r *ghzResult) {
	if r.errors() == 0 {
		return
	}
	if res.ErrorMessages == nil {
		res.ErrorMessages = map[string]int64{}
	}
	for msg, n := range r.Errors {
		res.ErrorMessages[msg] += n
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// reniceRetention sets the nice value of the PostgreSQL backends serving
// the retention run (application_name patronfed-retention): a diagnostic
// of whether the reads' tail is CPU scheduling. One query per window; no
// loop beside the measurement.
func (h *harness) reniceRetention(url string, nice int) {
	c, err := pgx.Connect(h.ctx, url)
	if err != nil {
		h.logf("renice: %v", err)
		return
	}
	defer c.Close(h.ctx)
	rows, err := c.Query(h.ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = 'patronfed-retention'`)
	if err != nil {
		h.logf("renice: %v", err)
		return
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		h.logf("renice: %v", err)
		return
	}
	for _, pid := range pids {
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, int(pid), nice); err != nil {
			h.logf("renice %d: %v", pid, err)
		}
	}
}

// retentionWindow is the length of one ghz process in the retention
// phase, idle and during the run.
const retentionWindow = 10 * time.Second

// windowLatencies are the successful requests of ghz windows, all of them
// and those after each process's first second (settled), with how many in
// each part took over 20 ms. A new ghz process opens its connections and
// starts its workers at once, and the server meets new streams: its first
// requests are slower than the rest, and with one process per 10 s window
// that start is a tenth of the run.
type windowLatencies struct {
	all, settled      latencies
	firstN, firstSlow int
	settledSlow       int
}

// splitWindow is the requests of r that started in [from, to), or all of
// them if from is zero; "first" is the process's first second.
func splitWindow(r *ghzResult, from, to time.Time) windowLatencies {
	var w windowLatencies
	var start time.Time
	for _, x := range r.Details {
		if start.IsZero() || x.Timestamp.Before(start) {
			start = x.Timestamp
		}
	}
	for _, x := range r.Details {
		if x.Status != "OK" || !from.IsZero() && (x.Timestamp.Before(from) || !x.Timestamp.Before(to)) {
			continue
		}
		d := time.Duration(x.Latency)
		w.all = append(w.all, d)
		// ghz's timestamp is when the request started.
		if x.Timestamp.Sub(start) < time.Second {
			w.firstN++
			if d > 20*time.Millisecond {
				w.firstSlow++
			}
			continue
		}
		w.settled = append(w.settled, d)
		if d > 20*time.Millisecond {
			w.settledSlow++
		}
	}
	return w
}

func (w *windowLatencies) add(o windowLatencies) {
	w.all, w.settled = append(w.all, o.all...), append(w.settled, o.settled...)
	w.firstN, w.firstSlow = w.firstN+o.firstN, w.firstSlow+o.firstSlow
	w.settledSlow += o.settledSlow
}

// starts says how the first second of the windows compares with the rest.
func (w windowLatencies) starts() string {
	pct := func(n, of int) float64 {
		if of == 0 {
			return 0
		}
		return 100 * float64(n) / float64(of)
	}
	if w.firstN == 0 {
		return fmt.Sprintf("over 20 ms: %.1f %% of %d requests", pct(w.settledSlow, len(w.settled)), len(w.settled))
	}
	return fmt.Sprintf("over 20 ms: %.1f %% of %d requests in the first second of a ghz process, %.1f %% of %d after it (p99 %s)",
		pct(w.firstSlow, w.firstN), w.firstN, pct(w.settledSlow, len(w.settled)), len(w.settled), ms(w.settled.pct(99)))
}
