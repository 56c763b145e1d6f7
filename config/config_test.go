package config

import (
	"flag"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestEnvironmentDefaultsAndFlagsOverride(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://localhost/env")
	t.Setenv("PATRONFED_TOKEN_TTL", "5m")
	t.Setenv("PATRONFED_TOKEN_KEYS", "k")
	t.Setenv("PATRONFED_PII_KEYS", "k")
	t.Setenv("PATRONFED_PII_INDEX_KEY", "k")
	t.Setenv("PATRONFED_ALLOW_PLAINTEXT", "true")
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.Register(fs)
	if err := fs.Parse([]string{"--grpc-addr", ":1234"}); err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgres://localhost/env" || c.TokenTTL != 5*time.Minute || c.GRPCAddr != ":1234" || !c.AllowPlaintext {
		t.Fatalf("config %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestMalformedEnvironmentIsReported(t *testing.T) {
	t.Setenv("PATRONFED_TOKEN_TTL", "fifteen minutes")
	t.Setenv("PATRONFED_DB_MAX_CONNS", "many")
	var c Config
	c.Register(flag.NewFlagSet("t", flag.ContinueOnError))
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "PATRONFED_TOKEN_TTL") || !strings.Contains(err.Error(), "PATRONFED_DB_MAX_CONNS") ||
		!strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("want every problem named, got %v", err)
	}
}

func TestTLSCertAndKeyGoTogether(t *testing.T) {
	c := valid()
	c.TLSCertFile = "cert.pem"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "PATRONFED_TLS_KEY") {
		t.Fatalf("want the missing key named, got %v", err)
	}
	c.TLSKeyFile = "key.pem"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSearchPlanIsOneOfThree(t *testing.T) {
	t.Setenv("PATRONFED_SEARCH_PLAN", "hashed")
	var c Config
	c.Register(flag.NewFlagSet("t", flag.ContinueOnError))
	if c.SearchPlan != "hashed" {
		t.Fatalf("search plan %q from the environment", c.SearchPlan)
	}
	c = valid()
	for _, ok := range []string{"", "auto", "probe", "hashed"} {
		c.SearchPlan = ok
		if err := c.Validate(); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	c.SearchPlan = "fast"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "auto, probe or hashed") {
		t.Fatalf("want the plans named, got %v", err)
	}
}

// valid is a configuration that passes Validate: loopback addresses, no TLS.
func valid() Config {
	return Config{DatabaseURL: "postgres://127.0.0.1/x", TokenKeys: "k", PIIKeys: "k", PIIIndexKey: "k", TokenTTL: time.Minute,
		GRPCAddr: "127.0.0.1:9090", HTTPAddr: "127.0.0.1:8080"}
}

// Privacy rules §5.1 (encrypted transport): without TLS, serve listens on
// loopback only, unless the operator says TLS is terminated in front.
func TestPlaintextOnlyOnLoopback(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:9090", "localhost:9090", "[::1]:9090", "127.0.0.2:0"} {
		c := valid()
		c.GRPCAddr, c.HTTPAddr = addr, addr
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	for _, addr := range []string{":9090", "0.0.0.0:9090", "[::]:9090", "10.0.0.5:9090", "example.org:9090", "9090", ""} {
		c := valid()
		c.HTTPAddr = addr
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "PATRONFED_HTTP_ADDR") || strings.Contains(err.Error(), "PATRONFED_GRPC_ADDR") ||
			!strings.Contains(err.Error(), "PATRONFED_ALLOW_PLAINTEXT") {
			t.Errorf("HTTP on %q without TLS: %v", addr, err)
		}
		c.GRPCAddr = addr
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "PATRONFED_GRPC_ADDR") {
			t.Errorf("gRPC on %q without TLS: %v", addr, err)
		}
		tls := c
		tls.TLSCertFile, tls.TLSKeyFile = "cert.pem", "key.pem"
		if err := tls.Validate(); err != nil {
			t.Errorf("%q with TLS: %v", addr, err)
		}
		c.AllowPlaintext = true
		if err := c.Validate(); err != nil {
			t.Errorf("%q with PATRONFED_ALLOW_PLAINTEXT: %v", addr, err)
		}
	}
	t.Setenv("PATRONFED_ALLOW_PLAINTEXT", "sometimes")
	var c Config
	c.Register(flag.NewFlagSet("t", flag.ContinueOnError))
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `PATRONFED_ALLOW_PLAINTEXT: "sometimes"`) {
		t.Errorf("malformed PATRONFED_ALLOW_PLAINTEXT: %v", err)
	}
}

// Privacy rules §5.1 (encrypted transport) towards PostgreSQL: a host
// across a network needs TLS without a plaintext fallback, unless the
// operator vouches for the network.
func TestDatabaseTransport(t *testing.T) {
	for url, ok := range map[string]bool{
		"postgres://u@127.0.0.1:5432/db?sslmode=disable":                  true,
		"postgres://u@localhost/db":                                       true,
		"postgres://u@[::1]/db":                                           true,
		"host=/var/run/postgresql dbname=db":                              true,
		"postgres://u@db.example.org/db?sslmode=require":                  true,
		"postgres://u@db.example.org/db?sslmode=verify-full":              true,
		"postgres://u@db.example.org/db":                                  false, // prefer: falls back to plaintext
		"postgres://u@db.example.org/db?sslmode=prefer":                   false,
		"postgres://u@db.example.org/db?sslmode=allow":                    false,
		"postgres://u:secret@10.0.0.5/db?sslmode=disable":                 false,
		"postgres://u@127.0.0.1,db.example.org/db?sslmode=disable":        false,
		"postgres://u@db1.example.org,db2.example.org/db?sslmode=require": true,
	} {
		c := valid()
		c.DatabaseURL = url
		err := c.Validate()
		if ok != (err == nil) {
			t.Errorf("%s: %v", url, err)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), "PATRONFED_DB_ALLOW_PLAINTEXT") || strings.Contains(err.Error(), "secret") {
				t.Errorf("%s: %v", url, err)
			}
			c.AllowDBPlaintext = true
			if err := c.Validate(); err != nil {
				t.Errorf("%s with PATRONFED_DB_ALLOW_PLAINTEXT: %v", url, err)
			}
		}
	}
	c := valid()
	c.DatabaseURL = "postgres://u:secret@%zz"
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("unparsable URL: %v", err)
	}
}

func TestApplyGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	if got := ApplyGCPercent(); got != DefaultGCPercent || debug.SetGCPercent(DefaultGCPercent) != DefaultGCPercent {
		t.Errorf("without GOGC: %d", got)
	}
	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150) // what the runtime does with GOGC at start-up
	if got := ApplyGCPercent(); got != 150 || debug.SetGCPercent(150) != 150 {
		t.Errorf("with GOGC=150: %d", got)
	}
}

// The scheduled retention run's work share: 0.125 unless set, any share
// in (0, 1] accepted, anything else refused by name.
func TestRetentionWorkShare(t *testing.T) {
	var c Config
	c.Register(flag.NewFlagSet("t", flag.ContinueOnError))
	if c.RetentionWorkShare != 0.125 {
		t.Fatalf("default work share %v, want 0.125 (retention.DefaultWorkShare)", c.RetentionWorkShare)
	}
	for _, v := range []string{"0.25", "1"} {
		t.Setenv("PATRONFED_RETENTION_WORK_SHARE", v)
		var r Config
		r.Register(flag.NewFlagSet("t", flag.ContinueOnError))
		c := valid()
		c.RetentionWorkShare, c.envErrs = r.RetentionWorkShare, r.envErrs
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
	for _, v := range []string{"1.5", "-0.1", "NaN", "a quarter"} {
		t.Setenv("PATRONFED_RETENTION_WORK_SHARE", v)
		var r Config
		r.Register(flag.NewFlagSet("t", flag.ContinueOnError))
		c := valid()
		c.RetentionWorkShare, c.envErrs = r.RetentionWorkShare, r.envErrs
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "PATRONFED_RETENTION_WORK_SHARE") {
			t.Errorf("%s: %v, want an error naming PATRONFED_RETENTION_WORK_SHARE", v, err)
		}
	}
}
