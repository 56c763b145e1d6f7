package main

import (
	"fmt"
	"time"
)

type memSample struct {
	At         time.Duration
	RSSMB      float64
	HeapMB     float64
	Goroutines float64
}

type memResult struct {
	IdleRSSMB, AfterRSSMB float64
	Samples               []memSample
	Requests              int64
	RPS                   float64
	Errors                int64
	// GrowthMB: mean RSS of the last minute minus that of the second.
	GrowthMB float64
}

// memory measures the server's resident memory idle, then under the
// GetPatron load for -mem-duration, sampled every 5 s.
func (h *harness) memory() error {
	if err := h.startServe(h.url); err != nil {
		return err
	}
	data, token, err := h.getPatronLoad(h.url)
	if err != nil {
		return err
	}
	time.Sleep(10 * time.Second)
	pid := h.serve.pid()
	metrics := "http://" + serveMetric + "/metrics"
	sample := func(at time.Duration) memSample {
		return memSample{At: at, RSSMB: float64(rssKB(pid)) / 1024,
			HeapMB:     metric(metrics, "go_memstats_heap_inuse_bytes") / (1 << 20),
			Goroutines: metric(metrics, "go_goroutines")}
	}
	res := memResult{IdleRSSMB: sample(0).RSSMB}
	c := h.f.conc[len(h.f.conc)-1]
	g := ghzRun{Call: "patronfed.v1.PatronService.GetPatron", Target: serveGRPC, DataFile: data, Token: token,
		Concurrency: c, Connections: min(c, h.f.connections), Duration: h.f.memDuration}
	type out struct {
		r   *ghzResult
		err error
	}
	done := make(chan out, 1)
	start := time.Now()
	go func() { r, err := g.run(h.ctx, h.f.ghz); done <- out{r, err} }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var o out
loop:
	for {
		select {
		case o = <-done:
			break loop
		case <-tick.C:
			res.Samples = append(res.Samples, sample(time.Since(start).Round(time.Second)))
		}
	}
	if o.err != nil {
		return o.err
	}
	res.Requests, res.RPS, res.Errors = o.r.Count, o.r.RPS, o.r.errors()
	time.Sleep(10 * time.Second)
	res.AfterRSSMB = sample(0).RSSMB
	mean := func(from, to time.Duration) float64 {
		var s, n float64
		for _, x := range res.Samples {
			if x.At > from && x.At <= to {
				s += x.RSSMB
				n++
			}
		}
		return s / max(n, 1)
	}
	total := h.f.memDuration
	res.GrowthMB = mean(total-time.Minute, total) - mean(time.Minute, 2*time.Minute)
	h.results["memory"] = res
	fmt.Fprintf(h.md, "## Memory of `patronfed serve`\n\nidle RSS %.1f MB; GetPatron load c=%d for %s: %d requests (%.0f req/s, %d errors); RSS 10 s after the load %.1f MB; growth (mean RSS of the last minute − of the second minute): %+.1f MB\n\n",
		res.IdleRSSMB, c, h.f.memDuration, res.Requests, res.RPS, res.Errors, res.AfterRSSMB, res.GrowthMB)
	fmt.Fprintf(h.md, "| t | RSS MB | Go heap in use MB | goroutines |\n|---|---|---|---|\n")
	for i, x := range res.Samples {
		if i%6 == 5 || i == 0 || i == len(res.Samples)-1 {
			fmt.Fprintf(h.md, "| %s | %.1f | %.1f | %.0f |\n", x.At, x.RSSMB, x.HeapMB, x.Goroutines)
		}
	}
	fmt.Fprintln(h.md)
	return nil
}
