package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ghzRun is one ghz invocation.
type ghzRun struct {
	Call        string
	Target      string
	DataFile    string
	Token       string
	Concurrency int
	Connections int
	Duration    time.Duration
	// RPS > 0: open-loop at that rate instead of as fast as possible.
	RPS int
	// Details keeps every request's latency (for merging windows).
	Details bool
}

// ghzResult is the part of ghz's JSON report we use (durations in ns).
type ghzResult struct {
	Count   int64   `json:"count"`
	Total   int64   `json:"total"`
	Average int64   `json:"average"`
	RPS     float64 `json:"rps"`
	Dist    []struct {
		Percentage int   `json:"percentage"`
		Latency    int64 `json:"latency"`
	} `json:"latencyDistribution"`
	Status map[string]int64 `json:"statusCodeDistribution"`
	Errors map[string]int64 `json:"errorDistribution"`
	// CPU is ghz's own CPU time.
	CPU     time.Duration `json:"-"`
	Details []struct {
		Timestamp time.Time `json:"timestamp"`
		Latency   int64     `json:"latency"`
		Status    string    `json:"status"`
		Error     string    `json:"error"`
	} `json:"details"`
}

// errorsBetween counts the failed requests that started in [from, to),
// by ghz's per-request details, and returns their messages.
func (r *ghzResult) errorsBetween(from, to time.Time) (int64, map[string]int64) {
	var n int64
	msgs := map[string]int64{}
	for _, x := range r.Details {
		if x.Status != "OK" && !x.Timestamp.Before(from) && x.Timestamp.Before(to) {
			n++
			msgs[x.Error]++
		}
	}
	return n, msgs
}

func (r *ghzResult) pct(p int) time.Duration {
	for _, d := range r.Dist {
		if d.Percentage == p {
			return time.Duration(d.Latency)
		}
	}
	return 0
}

// errors counts failed requests, except those ghz itself cut off when
// its -z duration ended (it closes the connections under them).
func (r *ghzResult) errors() int64 {
	var n int64
	for code, c := range r.Status {
		if code != "OK" {
			n += c
		}
	}
	return n - r.cut()
}

func (r *ghzResult) cut() int64 {
	var n int64
	for msg, c := range r.Errors {
		if strings.Contains(msg, "use of closed network connection") || strings.Contains(msg, "grpc: the client connection is closing") {
			n += c
		}
	}
	return n
}

func (g ghzRun) args() []string {
	args := []string{"--insecure", "--call", g.Call, "-c", strconv.Itoa(g.Concurrency),
		"-z", g.Duration.String(), "-O", "json", "--count-errors"}
	if g.Connections > 0 {
		args = append(args, "--connections", strconv.Itoa(g.Connections))
	}
	if g.DataFile != "" {
		args = append(args, "-D", g.DataFile)
	}
	if g.Token != "" {
		args = append(args, "-m", fmt.Sprintf(`{"authorization":"Bearer %s"}`, g.Token))
	}
	if g.RPS > 0 {
		args = append(args, "--rps", strconv.Itoa(g.RPS))
	}
	// ghz stops at -z; a big -n keeps it from stopping earlier.
	return append(args, "-n", "100000000", g.Target)
}

func (g ghzRun) run(ctx context.Context, bin string) (*ghzResult, error) {
	cmd := exec.CommandContext(ctx, bin, g.args()...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ghz: %w", err)
	}
	return g.result(out, cmd.ProcessState)
}

func (g ghzRun) result(out []byte, st *os.ProcessState) (*ghzResult, error) {
	var r ghzResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("ghz output: %w", err)
	}
	if st != nil {
		r.CPU = st.UserTime() + st.SystemTime()
	}
	if !g.Details {
		r.Details = nil
	}
	return &r, nil
}

// ghzProc is a ghz process running in the background until stopped.
type ghzProc struct {
	g   ghzRun
	cmd *exec.Cmd
	out bytes.Buffer
}

// start starts g; stop ends it early and returns its report.
func (g ghzRun) start(ctx context.Context, bin string) (*ghzProc, error) {
	p := &ghzProc{g: g}
	p.cmd = exec.CommandContext(ctx, bin, g.args()...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, os.Stderr
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("ghz: %w", err)
	}
	return p, nil
}

// stop interrupts ghz, which then stops its workers and writes its report.
func (p *ghzProc) stop() (*ghzResult, error) {
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		return nil, fmt.Errorf("ghz: %w", err)
	}
	if err := p.cmd.Wait(); err != nil {
		return nil, fmt.Errorf("ghz: %w", err)
	}
	return p.g.result(p.out.Bytes(), p.cmd.ProcessState)
}

// kill ends ghz if it still runs (after an error).
func (p *ghzProc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// latencies summarises raw latencies.
type latencies []time.Duration

func (l latencies) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
