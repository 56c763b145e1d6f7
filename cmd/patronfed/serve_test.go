package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/config"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/pii"
)

// TestServeShutsDownOnSIGTERM runs `patronfed serve` as a real process (this
// test binary re-executed), waits until it serves, sends SIGTERM and
// expects a clean exit with "shutting down" logged.
func TestServeShutsDownOnSIGTERM(t *testing.T) {
	if args := os.Getenv("PATRONFED_TEST_RUN_MAIN"); args != "" {
		os.Exit(run(strings.Fields(args)))
	}
	t.Parallel()
	db := pgtest.NewDB(t)
	enc, idx := pii.GenerateKeyringSpec()
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeShutsDownOnSIGTERM$")
	cmd.Env = append(os.Environ(),
		"PATRONFED_TEST_RUN_MAIN=serve --grpc-addr "+grpcAddr+" --http-addr "+httpAddr+" --metrics-addr 127.0.0.1:0",
		"DATABASE_URL="+db,
		"PATRONFED_TOKEN_KEYS="+auth.GenerateSigningKeySpec(),
		"PATRONFED_PII_KEYS="+enc,
		"PATRONFED_PII_INDEX_KEY="+idx,
	)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("serve did not come up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var logged []string
	for l := range lines {
		logged = append(logged, l)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v; log:\n%s", err, strings.Join(logged, "\n"))
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("serve did not stop on SIGTERM")
	}
	shut := false
	for _, l := range logged {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) != nil {
			t.Errorf("log line is not JSON: %q", l)
			continue
		}
		if rec["msg"] == "shutting down" {
			shut = true
		}
	}
	if !shut {
		t.Fatalf("no shutdown logged:\n%s", strings.Join(logged, "\n"))
	}
	if _, err := net.DialTimeout("tcp", grpcAddr, time.Second); err == nil {
		t.Fatal("gRPC port still open after shutdown")
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServeRefusesPlaintextOffLoopback (privacy rules §5.1): without TLS
// and without PATRONFED_ALLOW_PLAINTEXT, serve does not start on an address
// other than loopback, and says what to do.
func TestServeRefusesPlaintextOffLoopback(t *testing.T) {
	if args := os.Getenv("PATRONFED_TEST_RUN_PLAINTEXT"); args != "" {
		os.Exit(run(strings.Fields(args)))
	}
	t.Parallel()
	enc, idx := pii.GenerateKeyringSpec()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeRefusesPlaintextOffLoopback$")
	cmd.Env = append(os.Environ(),
		"PATRONFED_TEST_RUN_PLAINTEXT=serve --grpc-addr :0 --http-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0",
		"DATABASE_URL=postgres://127.0.0.1:1/none",
		"PATRONFED_TOKEN_KEYS="+auth.GenerateSigningKeySpec(),
		"PATRONFED_PII_KEYS="+enc,
		"PATRONFED_PII_INDEX_KEY="+idx,
	)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve started in plaintext on :0:\n%s", out)
	}
	if !strings.Contains(string(out), "refusing to serve patron data without TLS on :0 (PATRONFED_GRPC_ADDR)") {
		t.Fatalf("want the refusal explained, got:\n%s", out)
	}
}

// dev listens on loopback by default (it serves without TLS), and where
// it is told to.
func TestDevListensOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		env        string
		grpc, http string
	}{
		{nil, "", "127.0.0.1:9090", "127.0.0.1:8080"},
		{[]string{"--grpc-addr", ":7000"}, "", ":7000", "127.0.0.1:8080"},
		{nil, ":7001", "127.0.0.1:9090", ":7001"},
	} {
		if tc.env != "" {
			t.Setenv("PATRONFED_HTTP_ADDR", tc.env)
		}
		fs := flag.NewFlagSet("dev", flag.ContinueOnError)
		var cfg config.Config
		cfg.Register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		devLoopback(fs, &cfg)
		if cfg.GRPCAddr != tc.grpc || cfg.HTTPAddr != tc.http {
			t.Errorf("%v %q: gRPC %s, REST %s; want %s, %s", tc.args, tc.env, cfg.GRPCAddr, cfg.HTTPAddr, tc.grpc, tc.http)
		}
	}
}
