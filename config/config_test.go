package config

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestEnvironmentDefaultsAndFlagsOverride(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://env")
	t.Setenv("PATRONFED_TOKEN_TTL", "5m")
	t.Setenv("PATRONFED_TOKEN_KEYS", "k")
	t.Setenv("PATRONFED_PII_KEYS", "k")
	t.Setenv("PATRONFED_PII_INDEX_KEY", "k")
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.Register(fs)
	if err := fs.Parse([]string{"--grpc-addr", ":1234"}); err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgres://env" || c.TokenTTL != 5*time.Minute || c.GRPCAddr != ":1234" {
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
	c := Config{DatabaseURL: "x", TokenKeys: "k", PIIKeys: "k", PIIIndexKey: "k", TokenTTL: time.Minute, TLSCertFile: "cert.pem"}
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
	c = Config{DatabaseURL: "x", TokenKeys: "k", PIIKeys: "k", PIIIndexKey: "k", TokenTTL: time.Minute}
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
