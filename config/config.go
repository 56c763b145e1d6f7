// Package config reads patronfed's settings from command-line flags, each of
// which defaults to a PATRONFED_* environment variable (DATABASE_URL for the
// database), so the same binary runs from a shell, compose or Kubernetes.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Config is what `patronfed serve` needs.
type Config struct {
	DatabaseURL string
	// DBRole is the role the server SET ROLEs to on every connection; it may
	// not UPDATE or DELETE the audit log. Empty keeps the login role.
	DBRole     string
	DBMaxConns int

	GRPCAddr    string
	HTTPAddr    string
	MetricsAddr string

	// TokenKeys: "kid:base64-ed25519-seed,..."; the first signs.
	TokenKeys string
	TokenTTL  time.Duration
	// PIIKeys: "kid:base64-aes256-key,..."; the first seals.
	PIIKeys     string
	PIIIndexKey string

	LoginMaxFailures int
	LoginLockout     time.Duration

	LogLevel string
	// OTLPEndpoint enables OpenTelemetry tracing when set.
	OTLPEndpoint string

	// TLSCertFile and TLSKeyFile (PEM) turn on TLS for gRPC and REST
	// (privacy-rules §5.1: encrypted transport). Both or neither.
	TLSCertFile string
	TLSKeyFile  string
	// AllowPlaintext lets the gRPC and REST ports listen without TLS on
	// addresses other than loopback: for when a proxy, ingress or service
	// mesh terminates TLS in front of patronfed. Without it, serve refuses
	// to start in plaintext off loopback (privacy rules §5.1).
	AllowPlaintext bool
	// AllowDBPlaintext lets DATABASE_URL name a PostgreSQL host other than
	// loopback or a Unix socket without requiring TLS (sslmode require,
	// verify-ca or verify-full): for a private network the operator
	// vouches for. Without it, serve refuses (privacy rules §5.1).
	AllowDBPlaintext bool

	// PolicyPollInterval is how often a replica checks the active policy
	// version besides LISTEN/NOTIFY (0: policystore's default).
	PolicyPollInterval time.Duration

	// RetentionInterval is how often the server runs retention (one
	// replica at a time); 0 disables the schedule.
	RetentionInterval time.Duration
	// RetentionWorkShare is the most of its time a scheduled retention run
	// spends working (retention.Options.WorkShare); 1 leaves only the
	// fixed pause between batches, 0 is retention.DefaultWorkShare.
	RetentionWorkShare float64

	// GRPCStreamWorkers is the number of long-lived goroutines serving gRPC
	// calls; 0 starts a goroutine per call.
	GRPCStreamWorkers int

	// PrincipalCacheTTL bounds how long a caller's account row is cached
	// (invalidated at once by NOTIFY; see package principals); 0 reads the
	// row on every call.
	PrincipalCacheTTL time.Duration

	// SearchPlan is how name searches evaluate the consent and loan part of
	// the visibility filter: "auto" (chosen per library), "probe" or
	// "hashed" (see patron.SearchPlan); "" is "auto". The results are the
	// same.
	SearchPlan string

	// envErrs holds malformed environment values, reported by Validate.
	envErrs []error
}

// Register defines the flags on fs, with environment defaults.
func (c *Config) Register(fs *flag.FlagSet) {
	str(fs, &c.DatabaseURL, "database-url", "DATABASE_URL", "", "PostgreSQL connection URL")
	str(fs, &c.DBRole, "db-role", "PATRONFED_DB_ROLE", "patronfed_app", "role to SET ROLE to on each connection (cannot alter the audit log); empty to keep the login role")
	c.integer(fs, &c.DBMaxConns, "db-max-conns", "PATRONFED_DB_MAX_CONNS", 16, "maximum database connections")
	str(fs, &c.GRPCAddr, "grpc-addr", "PATRONFED_GRPC_ADDR", ":9090", "gRPC listen address")
	str(fs, &c.HTTPAddr, "http-addr", "PATRONFED_HTTP_ADDR", ":8080", "REST gateway listen address (serves /openapi.json and /healthz)")
	str(fs, &c.MetricsAddr, "metrics-addr", "PATRONFED_METRICS_ADDR", "127.0.0.1:9464", "Prometheus /metrics listen address; empty disables")
	str(fs, &c.TokenKeys, "token-keys", "PATRONFED_TOKEN_KEYS", "", "token signing keys \"kid:base64-ed25519-seed,...\"; the first signs, all verify")
	c.duration(fs, &c.TokenTTL, "token-ttl", "PATRONFED_TOKEN_TTL", 15*time.Minute, "lifetime of issued tokens")
	str(fs, &c.PIIKeys, "pii-keys", "PATRONFED_PII_KEYS", "", "encryption keys for national identifiers \"kid:base64-32-bytes,...\"; the first encrypts")
	str(fs, &c.PIIIndexKey, "pii-index-key", "PATRONFED_PII_INDEX_KEY", "", "base64 HMAC key of the blind index for national identifiers")
	c.integer(fs, &c.LoginMaxFailures, "login-max-failures", "PATRONFED_LOGIN_MAX_FAILURES", 5, "failed logins before a login name is locked")
	c.duration(fs, &c.LoginLockout, "login-lockout", "PATRONFED_LOGIN_LOCKOUT", 15*time.Minute, "how long a locked login name stays locked")
	str(fs, &c.LogLevel, "log-level", "PATRONFED_LOG_LEVEL", "info", "debug, info, warn or error")
	str(fs, &c.OTLPEndpoint, "otlp-endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "", "OpenTelemetry OTLP/gRPC endpoint; tracing is off when empty")
	str(fs, &c.TLSCertFile, "tls-cert", "PATRONFED_TLS_CERT", "", "PEM certificate (chain) for TLS on the gRPC and REST ports; plaintext when empty (then only on loopback addresses, unless --allow-plaintext)")
	str(fs, &c.TLSKeyFile, "tls-key", "PATRONFED_TLS_KEY", "", "PEM private key for --tls-cert")
	c.boolean(fs, &c.AllowDBPlaintext, "allow-db-plaintext", "PATRONFED_DB_ALLOW_PLAINTEXT", false, "connect to a PostgreSQL host other than loopback or a Unix socket without requiring TLS (without this, DATABASE_URL must then say sslmode=require, verify-ca or verify-full)")
	c.boolean(fs, &c.AllowPlaintext, "allow-plaintext", "PATRONFED_ALLOW_PLAINTEXT", false, "serve gRPC and REST without TLS on addresses other than loopback, because a proxy, ingress or service mesh terminates TLS in front (without TLS and without this, only loopback addresses are served)")
	c.duration(fs, &c.RetentionInterval, "retention-interval", "PATRONFED_RETENTION_INTERVAL", time.Hour, "how often to run retention (privacy-rules §3); 0 disables it")
	c.fraction(fs, &c.RetentionWorkShare, "retention-work-share", "PATRONFED_RETENTION_WORK_SHARE", 0.125, "most of its time a scheduled retention run spends working: after a batch that took t it rests t×(1-share)/share, at least 100 ms (0.125 keeps the desks' reads quick during a large backlog; 1 = only the 100 ms rest; 0 = the default)")
	c.integer(fs, &c.GRPCStreamWorkers, "grpc-stream-workers", "PATRONFED_GRPC_STREAM_WORKERS", 64, "long-lived goroutines serving gRPC calls (their stacks stay grown); calls beyond them get their own goroutine; 0 = a goroutine per call")
	c.duration(fs, &c.PrincipalCacheTTL, "principal-cache-ttl", "PATRONFED_PRINCIPAL_CACHE_TTL", time.Minute, "longest a caller's account row is cached; changes invalidate it at once through LISTEN/NOTIFY; 0 reads it on every call")
	str(fs, &c.SearchPlan, "search-plan", "PATRONFED_SEARCH_PLAN", "auto", "how name searches apply consents and loans: auto (chosen per library from its counts), probe or hashed; the results are the same, only the speed differs")
	c.duration(fs, &c.PolicyPollInterval, "policy-poll-interval", "PATRONFED_POLICY_POLL_INTERVAL", 3*time.Second, "fallback check for a newly activated access policy (activation is also pushed by LISTEN/NOTIFY)")
}

// Validate reports missing required settings.
func (c *Config) Validate() error {
	errs := append([]error(nil), c.envErrs...)
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL (--database-url) is required"))
	}
	if c.TokenKeys == "" {
		errs = append(errs, errors.New("PATRONFED_TOKEN_KEYS (--token-keys) is required"))
	}
	if c.PIIKeys == "" || c.PIIIndexKey == "" {
		errs = append(errs, errors.New("PATRONFED_PII_KEYS and PATRONFED_PII_INDEX_KEY are required"))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("PATRONFED_TLS_CERT and PATRONFED_TLS_KEY go together"))
	}
	if c.TLSCertFile == "" && !c.AllowPlaintext {
		for _, a := range []struct{ env, addr string }{{"PATRONFED_GRPC_ADDR", c.GRPCAddr}, {"PATRONFED_HTTP_ADDR", c.HTTPAddr}} {
			if !Loopback(a.addr) {
				errs = append(errs, fmt.Errorf("refusing to serve patron data without TLS on %s (%s), which is not a loopback address (privacy rules §5.1): set PATRONFED_TLS_CERT and PATRONFED_TLS_KEY, listen on 127.0.0.1, or set PATRONFED_ALLOW_PLAINTEXT=true if a proxy, ingress or service mesh terminates TLS in front of patronfed", a.addr, a.env))
			}
		}
	}
	if c.DatabaseURL != "" {
		if err := CheckDBTransport(c.DatabaseURL, c.AllowDBPlaintext); err != nil {
			errs = append(errs, err)
		}
	}
	if c.RetentionInterval < 0 {
		errs = append(errs, errors.New("retention interval must not be negative (0 disables it)"))
	}
	if !(c.RetentionWorkShare >= 0 && c.RetentionWorkShare <= 1) {
		errs = append(errs, fmt.Errorf("PATRONFED_RETENTION_WORK_SHARE %v: must be between 0 and 1 (1 = no limit, 0 = the default)", c.RetentionWorkShare))
	}
	if c.GRPCStreamWorkers < 0 || c.GRPCStreamWorkers > 4096 {
		errs = append(errs, errors.New("gRPC stream workers must be between 0 and 4096"))
	}
	if c.PrincipalCacheTTL < 0 {
		errs = append(errs, errors.New("principal cache TTL must not be negative (0 disables the cache)"))
	}
	switch c.SearchPlan {
	case "", "auto", "probe", "hashed":
	default:
		errs = append(errs, fmt.Errorf("search plan %q: want auto, probe or hashed", c.SearchPlan))
	}
	if c.TokenTTL <= 0 || c.TokenTTL > 24*time.Hour {
		errs = append(errs, errors.New("token TTL must be between 0 and 24h"))
	}
	return errors.Join(errs...)
}

// CheckDBTransport refuses a database URL that may carry patron data in
// plaintext across a network: a host other than loopback or a Unix socket
// whose connection may fall back to, or is, plaintext (sslmode disable,
// allow or prefer; prefer is libpq's default), unless allowPlaintext
// (PATRONFED_DB_ALLOW_PLAINTEXT). serve and dev check it in Validate, the
// commands that open the database themselves (migrate, admin, retention)
// before connecting.
func CheckDBTransport(url string, allowPlaintext bool) error {
	pc, err := pgconn.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	if allowPlaintext {
		return nil
	}
	targets := []*pgconn.FallbackConfig{{Host: pc.Host, Port: pc.Port, TLSConfig: pc.TLSConfig}}
	targets = append(targets, pc.Fallbacks...)
	var plain []string
	for _, t := range targets {
		local := strings.HasPrefix(t.Host, "/") || t.Host == "localhost"
		if ip := net.ParseIP(t.Host); ip != nil && ip.IsLoopback() {
			local = true
		}
		if !local && t.TLSConfig == nil && !slices.Contains(plain, t.Host) {
			plain = append(plain, t.Host)
		}
	}
	if len(plain) > 0 {
		return fmt.Errorf("refusing to reach PostgreSQL on %s without TLS (privacy rules §5.1): add sslmode=verify-full (or require) to DATABASE_URL, or set PATRONFED_DB_ALLOW_PLAINTEXT=true on a private network you vouch for", strings.Join(plain, ", "))
	}
	return nil
}

// Loopback reports whether a listen address (host:port) accepts
// connections from this machine only: a loopback IP or "localhost". An
// empty host (":9090") listens on every interface.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) boolean(fs *flag.FlagSet, p *bool, name, env string, def bool, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("%s: %q is not true or false", env, v))
		}
		def = b
	}
	fs.BoolVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, env))
}

func str(fs *flag.FlagSet, p *string, name, env, def, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		def = v
	}
	fs.StringVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, env))
}

func (c *Config) integer(fs *flag.FlagSet, p *int, name, env string, def int, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("%s: %q is not a whole number", env, v))
		}
		def = n
	}
	fs.IntVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, env))
}

func (c *Config) fraction(fs *flag.FlagSet, p *float64, name, env string, def float64, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("%s: %q is not a number such as 0.25", env, v))
		}
		def = f
	}
	fs.Float64Var(p, name, def, fmt.Sprintf("%s (env %s)", usage, env))
}

func (c *Config) duration(fs *flag.FlagSet, p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("%s: %q is not a duration such as 15m or 1h", env, v))
		}
		def = d
	}
	fs.DurationVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, env))
}
