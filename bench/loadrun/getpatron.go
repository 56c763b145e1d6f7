package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// window is one measured ghz window against one server.
type window struct {
	Server      string
	Concurrency int
	Count       int64
	RPS         float64
	P50, P90    time.Duration
	P99         time.Duration
	Errors      int64
	// CPU per request, µs: the server process alone, and the whole
	// machine (server, PostgreSQL, ghz).
	ProcCPUus, MachineCPUus float64
	// PostgreSQL's and ghz's CPU per request, µs.
	PgCPUus, GhzCPUus float64
	// The policy decisions inside the server during the window
	// (patronfed_policy_decision_seconds): mean, and the upper bound of
	// the histogram bucket holding the 99th percentile, µs.
	DecisionMeanUS, DecisionP99BoundUS float64
}

// decisionStats reads the server's decision histogram: the sum of seconds,
// the count, and cumulative counts by bucket bound.
func decisionStats() (sum, count float64, buckets map[string]float64) {
	const name = "patronfed_policy_decision_seconds"
	url := "http://" + serveMetric + "/metrics"
	return metric(url, name+"_sum"), metric(url, name+"_count"), metrics(url, name+"_bucket")
}

type getPatronResult struct {
	Windows []window
	// Per concurrency and baseline (its -read): patronfed/baseline ratios
	// of the pooled windows.
	Ratios map[int]map[string]map[string]float64
}

// machineTicks is the busy CPU time of the machine, in clock ticks.
func machineTicks() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		busy += n
	}
	return busy
}

const tickUS = 1e6 / 100 // USER_HZ = 100

func (h *harness) measure(name, target string, pid int, g ghzRun) (window, error) {
	g.Target = target
	h.resetStatements()
	ds0, dn0, db0 := decisionStats()
	m0, p0, pg0 := machineTicks(), cpuTicks(pid), pgTicks(h.pg.Dir())
	r, err := g.run(h.ctx, h.f.ghz)
	if err != nil {
		return window{}, err
	}
	h.dumpStatements(fmt.Sprintf("%s-c%d", name, g.Concurrency), r.Count)
	m1, p1, pg1 := machineTicks(), cpuTicks(pid), pgTicks(h.pg.Dir())
	ds1, dn1, db1 := decisionStats()
	w := window{Server: name, Concurrency: g.Concurrency, Count: r.Count, RPS: r.RPS,
		P50: r.pct(50), P90: r.pct(90), P99: r.pct(99), Errors: r.errors()}
	if r.Count > 0 {
		w.ProcCPUus = float64(p1-p0) * tickUS / float64(r.Count)
		w.MachineCPUus = float64(m1-m0) * tickUS / float64(r.Count)
		w.PgCPUus = float64(pg1-pg0) * tickUS / float64(r.Count)
		w.GhzCPUus = float64(r.CPU.Microseconds()) / float64(r.Count)
	}
	if n := dn1 - dn0; n > 0 && target == serveGRPC { // only patronfed decides
		w.DecisionMeanUS = (ds1 - ds0) / n * 1e6
		w.DecisionP99BoundUS = p99Bound(db0, db1, n)
	}
	if cut := r.cut(); cut > 0 {
		h.logf("%s: %d requests cut off by ghz at the end of the window (not counted)", name, cut)
	}
	if w.Errors > 0 {
		h.logf("%s: %d errors: %v %v", name, w.Errors, r.Status, r.Errors)
	}
	return w, nil
}

// p99Bound is the smallest bucket bound (µs) under which 99 % of the n
// observations between two scrapes of cumulative bucket counts fall.
func p99Bound(before, after map[string]float64, n float64) float64 {
	best := math.Inf(1)
	for le, c := range after {
		bound, err := strconv.ParseFloat(le, 64)
		if err != nil {
			continue
		}
		if c-before[le] >= 0.99*n && bound < best {
			best = bound
		}
	}
	return best * 1e6
}

// getPatron compares GetPatron — authenticated, policy-checked, audited —
// with each baseline, alternating windows of the same length at each
// concurrency: every baseline, then patronfed, round after round.
func (h *harness) getPatron() error {
	if err := h.startServe(h.url); err != nil {
		return err
	}
	if err := h.startBaselines(h.url); err != nil {
		return err
	}
	data, token, err := h.getPatronLoad(h.url)
	if err != nil {
		return err
	}
	for _, b := range h.baselines {
		if b.read == "view" {
			if err := h.checkSameAnswers(b.addr, data, token, 200); err != nil {
				return err
			}
		}
	}
	res := getPatronResult{Ratios: map[int]map[string]map[string]float64{}}
	for _, c := range h.f.conc {
		base := ghzRun{Call: "patronfed.v1.PatronService.GetPatron", DataFile: data, Concurrency: c,
			Connections: min(c, h.f.connections), Duration: h.f.warmup}
		full := base
		full.Token = token
		// One round: every baseline, then patronfed.
		round := func() ([]window, error) {
			var ws []window
			for _, b := range h.baselines {
				w, err := h.measure(b.name, b.addr, b.p.pid(), base)
				if err != nil {
					return nil, err
				}
				ws = append(ws, w)
			}
			w, err := h.measure("patronfed", serveGRPC, h.serve.pid(), full)
			return append(ws, w), err
		}
		if h.f.warmup > 0 {
			if _, err := round(); err != nil {
				return err
			}
		}
		base.Duration, full.Duration = h.f.duration, h.f.duration
		byServer := make([][]window, len(h.baselines)+1) // baselines in order, then patronfed
		for i := range h.f.rounds {
			if h.f.pprof && i == 0 {
				go h.profile(fmt.Sprintf("serve-c%d", c), time.Duration(len(h.baselines))*h.f.duration+time.Second)
			}
			ws, err := round()
			if err != nil {
				return err
			}
			for j, w := range ws {
				byServer[j] = append(byServer[j], w)
			}
		}
		for _, ws := range byServer {
			res.Windows = append(res.Windows, ws...)
		}
		f := pooled(byServer[len(h.baselines)])
		res.Ratios[c] = map[string]map[string]float64{}
		for j, b := range h.baselines {
			bw := pooled(byServer[j])
			res.Ratios[c][b.read] = map[string]float64{
				"p50":        ratio(f.P50, bw.P50),
				"p99":        ratio(f.P99, bw.P99),
				"throughput": f.RPS / bw.RPS,
			}
		}
	}
	h.results["getpatron"] = res
	fmt.Fprintf(h.md, "## GetPatron (lib01.circ reading LIB01 patrons) vs %s\n\n", h.baselinesName())
	fmt.Fprintf(h.md, "ghz %s windows, %d rounds alternating, %d connections max; data: 5000 patron ids round-robin\n\n",
		h.f.duration, h.f.rounds, h.f.connections)
	fmt.Fprintf(h.md, "| server | c | requests | req/s | p50 | p90 | p99 | errors | CPU µs/req: server | PostgreSQL | ghz | machine | decision in server: mean | p99 ≤ |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, w := range res.Windows {
		dec := "| – | –"
		if w.DecisionMeanUS > 0 {
			dec = fmt.Sprintf("| %.0f µs | %.0f µs", w.DecisionMeanUS, w.DecisionP99BoundUS)
		}
		fmt.Fprintf(h.md, "| %s | %d | %d | %.0f | %s | %s | %s | %d | %.0f | %.0f | %.0f | %.0f %s |\n", w.Server, w.Concurrency, w.Count, w.RPS,
			ms(w.P50), ms(w.P90), ms(w.P99), w.Errors, w.ProcCPUus, w.PgCPUus, w.GhzCPUus, w.MachineCPUus, dec)
	}
	fmt.Fprintf(h.md, "\n| c | patronfed against | p50 ratio | p99 ratio | throughput ratio |\n|---|---|---|---|---|\n")
	for _, c := range h.f.conc {
		for _, b := range h.baselines {
			r := res.Ratios[c][b.read]
			fmt.Fprintf(h.md, "| %d | %s | %.2f× | %.2f× | %.2f× |\n", c, b.name, r["p50"], r["p99"], r["throughput"])
		}
	}
	fmt.Fprintln(h.md)
	return nil
}

// baselinesName says what the baselines of this run do.
func (h *harness) baselinesName() string {
	var names []string
	for _, b := range h.baselines {
		switch b.read {
		case "row":
			names = append(names, "the bare baseline (the patrons row)")
		case "view":
			names = append(names, "the baseline doing GetPatron's own read and answer (view)")
		}
	}
	name := strings.Join(names, " and ")
	if h.f.baselineWrite {
		name += ", with one durable INSERT per read (-baseline-write)"
	}
	return name
}

// pooled averages windows: request-weighted rate, median-of-windows
// latencies (the mean of the two for two rounds).
func pooled(ws []window) window {
	var out window
	var n float64
	for _, w := range ws {
		out.Count += w.Count
		out.RPS += w.RPS
		out.P50 += w.P50
		out.P90 += w.P90
		out.P99 += w.P99
		n++
	}
	if n > 0 {
		out.RPS /= n
		out.P50 = time.Duration(float64(out.P50) / n)
		out.P90 = time.Duration(float64(out.P90) / n)
		out.P99 = time.Duration(float64(out.P99) / n)
	}
	return out
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// profile saves a CPU profile of the server, starting after the baseline
// window (delay) and lasting most of the server's window.
func (h *harness) profile(name string, delay time.Duration) {
	select {
	case <-h.ctx.Done():
		return
	case <-time.After(delay):
	}
	secs := max(1, int(h.f.duration.Seconds()*0.6))
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, secs))
	if err != nil {
		h.logf("profile: %v", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(h.f.dir, name+".pprof"))
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
	h.logf("profile written to %s", f.Name())
}
