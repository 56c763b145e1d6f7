// Package policybench compares the embedded policy decision (package
// policy: a prepared Rego query evaluated in-process) with the same policy
// served by an OPA sidecar over HTTP on localhost — the setup deployments
// would otherwise choose. The sidecar benchmarks start bin/opa (make
// bench-tools, or make lint installs it) and skip with a message if it is
// missing. Run through `make bench`; `go test ./...` only compiles these.
//
// Each benchmark reports ns/op and allocs/op, and the p50 and p99 of the
// individual decisions (p50-ns, p99-ns). They run under the garbage
// collector's setting of patronfed serve (config.ApplyGCPercent: 400 %
// unless GOGC is set); GOGC=100 gives Go's default for comparison.
package policybench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/patronfed/patronfed/access"
	"github.com/patronfed/patronfed/config"
	"github.com/patronfed/patronfed/policy"
)

// The typical cases: a circulation desk of the patron's home library
// reading the record (allow), and a library without consent trying to
// check out to the patron (deny).
var (
	allowIn = policy.Input{
		Subject: policy.Subject{Kind: policy.KindStaff, AccountID: "0b0e8c3e-5d4a-4d7e-9a57-3f1c2a9d6b01", LibraryID: "7d1f2c3e-0000-4000-8000-000000000001",
			Permissions: []string{policy.PermLoanManage, policy.PermPatronRead}},
		Action: policy.ActionPatronRead,
		Resource: policy.Resource{PatronID: "5a3c1e2f-1111-4111-8111-111111111111", HomeLibraryID: "7d1f2c3e-0000-4000-8000-000000000001",
			ConsentLibraryIDs:    []string{"7d1f2c3e-0000-4000-8000-000000000002", "7d1f2c3e-0000-4000-8000-000000000004"},
			ActiveLoanLibraryIDs: []string{"7d1f2c3e-0000-4000-8000-000000000003"}, OptionalDataConsent: true},
	}
	denyIn = policy.Input{
		Subject: policy.Subject{Kind: policy.KindStaff, AccountID: "0b0e8c3e-5d4a-4d7e-9a57-3f1c2a9d6b09", LibraryID: "7d1f2c3e-0000-4000-8000-000000000009",
			Permissions: []string{policy.PermLoanManage, policy.PermPatronRead}},
		Action: policy.ActionLoanCheckout,
		Resource: policy.Resource{PatronID: "5a3c1e2f-1111-4111-8111-111111111111", HomeLibraryID: "7d1f2c3e-0000-4000-8000-000000000001",
			ConsentLibraryIDs:    []string{"7d1f2c3e-0000-4000-8000-000000000002", "7d1f2c3e-0000-4000-8000-000000000004"},
			ActiveLoanLibraryIDs: []string{"7d1f2c3e-0000-4000-8000-000000000003"}, OptionalDataConsent: true},
	}
)

var cases = []struct {
	name  string
	in    policy.Input
	allow bool
}{{"allow", allowIn, true}, {"deny", denyIn, false}}

// timed runs op b.N times and reports the p50 and p99 of single calls.
func timed(b *testing.B, op func() error) { timedAfter(b, nil, op) }

// timedAfter is timed with before run ahead of every call, untimed.
func timedAfter(b *testing.B, before func(), op func() error) {
	b.Helper()
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if before != nil {
			b.StopTimer()
			before()
			b.StartTimer()
		}
		t := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Nanoseconds()), "p99-ns")
	}
}

func engine(b *testing.B) *policy.Engine {
	e, err := policy.NewEngine(context.Background(), policy.Builtin())
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func check(d policy.Decision, allow bool) error {
	if d.Allow != allow {
		return fmt.Errorf("decision %+v, want allow=%v", d, allow)
	}
	return nil
}

// BenchmarkEmbedded: the decision as the server makes it, on a goroutine
// whose stack has already grown (a benchmark loop).
func BenchmarkEmbedded(b *testing.B) {
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e := engine(b)
			ctx := context.Background()
			timed(b, func() error {
				d, err := e.Decide(ctx, c.in)
				if err != nil {
					return err
				}
				return check(d, c.allow)
			})
		})
	}
}

// BenchmarkEmbeddedColdCache: each decision after 32 MiB of other memory
// was written, as in the server, where PostgreSQL, the load generator and
// the gRPC stack run between two decisions on the same 2 cores and evict
// the policy's data from the CPU caches (docs/performance.md, round 3).
func BenchmarkEmbeddedColdCache(b *testing.B) {
	other := make([]byte, 32<<20)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e := engine(b)
			ctx := context.Background()
			timedAfter(b, func() {
				for i := 0; i < len(other); i += 64 {
					other[i]++
				}
			}, func() error {
				d, err := e.Decide(ctx, c.in)
				if err != nil {
					return err
				}
				return check(d, c.allow)
			})
		})
	}
}

// BenchmarkEmbeddedFreshGoroutine: each decision on a new goroutine, as
// each gRPC request is: its stack starts small and must grow to hold
// OPA's recursive evaluation.
func BenchmarkEmbeddedFreshGoroutine(b *testing.B) {
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e := engine(b)
			ctx := context.Background()
			timed(b, func() error {
				var err error
				done := make(chan struct{})
				go func() {
					defer close(done)
					var d policy.Decision
					if d, err = e.Decide(ctx, c.in); err == nil {
						err = check(d, c.allow)
					}
				}()
				<-done
				return err
			})
		})
	}
}

// sidecar is an OPA server on loopback serving policy/rego.
type sidecar struct {
	url string
	cmd *exec.Cmd
}

var (
	sidecarOnce sync.Once
	theSidecar  *sidecar
	sidecarErr  error
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func startSidecar(tb testing.TB) *sidecar {
	sidecarOnce.Do(func() {
		root := repoRoot()
		bin := filepath.Join(root, "bin", "opa")
		if _, err := os.Stat(bin); err != nil {
			sidecarErr = fmt.Errorf("%s not found: run make bench-tools to compare with an OPA sidecar", bin)
			return
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			sidecarErr = err
			return
		}
		addr := l.Addr().String()
		l.Close()
		// The policy without its tests, as the server loads it.
		dir, err := os.MkdirTemp("", "policybench-")
		if err != nil {
			sidecarErr = err
			return
		}
		src, err := os.ReadFile(filepath.Join(root, "policy", "rego", "access.rego"))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "access.rego"), src, 0o644)
		}
		if err != nil {
			sidecarErr = err
			return
		}
		cmd := exec.Command(bin, "run", "--server", "--addr", addr, "--log-level", "error", dir)
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		if err := cmd.Start(); err != nil {
			sidecarErr = err
			return
		}
		s := &sidecar{url: "http://" + addr + "/v1/data/patronfed/access/decision", cmd: cmd}
		for range 100 {
			if resp, err := http.Get("http://" + addr + "/health"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					theSidecar = s
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = cmd.Process.Kill()
		sidecarErr = fmt.Errorf("OPA sidecar did not come up on %s", addr)
	})
	if sidecarErr != nil {
		tb.Skip(sidecarErr)
	}
	return theSidecar
}

func TestMain(m *testing.M) {
	// Decide under the garbage collector's setting patronfed serve runs
	// with (GOGC, if set, wins, as in serve): how often the collector runs
	// shapes the p99 (docs/performance.md, optimisation 21).
	config.ApplyGCPercent()
	code := m.Run()
	if theSidecar != nil {
		_ = theSidecar.cmd.Process.Kill()
		_, _ = theSidecar.cmd.Process.Wait()
	}
	os.Exit(code)
}

// sidecarDecision is the decision document as OPA returns it.
type sidecarDecision struct {
	Result *struct {
		Allow   bool     `json:"allow"`
		Fields  []string `json:"fields"`
		Reasons []string `json:"reasons"`
	} `json:"result"`
}

// decideSidecar asks the sidecar the way a server would: the input
// document as JSON (access.InputJSON, the same document the embedded engine
// sees), POSTed over a kept-alive connection, and the JSON answer decoded
// and floored like the embedded decision.
func decideSidecar(ctx context.Context, client *http.Client, url string, in policy.Input) (policy.Decision, error) {
	var body bytes.Buffer
	body.WriteString(`{"input":`)
	body.Write(access.InputJSON(in))
	body.WriteString(`}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &body)
	if err != nil {
		return policy.Decision{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return policy.Decision{}, err
	}
	defer resp.Body.Close()
	var out sidecarDecision
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return policy.Decision{}, err
	}
	if resp.StatusCode != http.StatusOK || out.Result == nil {
		return policy.Decision{}, fmt.Errorf("sidecar answered %s", resp.Status)
	}
	return policy.Floor(in, policy.Decision{Allow: out.Result.Allow, Fields: out.Result.Fields, Reasons: out.Result.Reasons}), nil
}

// BenchmarkSidecar: the same decisions from `opa run --server` over HTTP
// on localhost.
func BenchmarkSidecar(b *testing.B) {
	s := startSidecar(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			timed(b, func() error {
				d, err := decideSidecar(ctx, client, s.url, c.in)
				if err != nil {
					return err
				}
				return check(d, c.allow)
			})
		})
	}
}

// TestSidecarAgrees checks that the two answer the same (when the sidecar
// can run), so the comparison is of like with like.
func TestSidecarAgrees(t *testing.T) {
	if testing.Short() {
		t.Skip("starts bin/opa")
	}
	s := startSidecar(t)
	e, err := policy.NewEngine(context.Background(), policy.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		want, err := e.Decide(context.Background(), c.in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decideSidecar(context.Background(), http.DefaultClient, s.url, c.in)
		if err != nil {
			t.Fatal(err)
		}
		if got.Allow != want.Allow || !slices.Equal(got.Fields, want.Fields) || !slices.Equal(got.Reasons, want.Reasons) {
			t.Errorf("%s: sidecar %+v, embedded %+v", c.name, got, want)
		}
	}
}
