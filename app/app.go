// Package app wires patronfed together from its configuration: the
// database pool, keys, the policy engine, every service and the server.
// `patronfed serve`, `patronfed dev` and the integration-test harness all
// build the product through Build, so tests run exactly what ships.
package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"log/slog"
	"net"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/clock"
	"github.com/patronfed/patronfed/config"
	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/principals"
	"github.com/patronfed/patronfed/server"
	"github.com/patronfed/patronfed/services/login"
	"github.com/patronfed/patronfed/store"
)

// Deps are what Build needs beyond the configuration.
type Deps struct {
	Config config.Config
	Logger *slog.Logger
	Clock  clock.Clock
	// HashParams is the argon2id cost for new passwords and PINs;
	// auth.DefaultParams in production, cheaper in tests.
	HashParams auth.Params
	// Tracer, when set, receives the RPC spans instead of an OTLP exporter
	// built from Config.OTLPEndpoint (tests use an in-memory one).
	Tracer trace.TracerProvider
}

// App is a built, not yet serving, patronfed.
type App struct {
	Pool    *pgxpool.Pool
	Server  *server.Server
	Keyring *pii.Keyring
	Signer  *auth.Signer
	// Principals is the cache of callers' account rows; nil when disabled.
	Principals *principals.Cache
	// Metrics is what the server serves at /metrics (--metrics-addr).
	Metrics *prometheus.Registry
	closers []func()
}

// Build opens the database and constructs every part.
func Build(ctx context.Context, d Deps) (*App, error) {
	cfg := d.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	if d.HashParams == (auth.Params{}) {
		d.HashParams = auth.DefaultParams
	}
	keyring, err := pii.ParseKeyring(cfg.PIIKeys, cfg.PIIIndexKey)
	if err != nil {
		return nil, fmt.Errorf("PII keys: %w", err)
	}
	signer, err := auth.ParseSigningKeys(cfg.TokenKeys)
	if err != nil {
		return nil, fmt.Errorf("token keys: %w", err)
	}
	dbm := store.NewMetrics()
	pool, err := store.Open(ctx, cfg.DatabaseURL, store.PoolOptions{MaxConns: int32(cfg.DBMaxConns), AppRole: cfg.DBRole, Metrics: dbm})
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	a := &App{Pool: pool, Keyring: keyring, Signer: signer, closers: []func(){pool.Close}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(dbm.Collectors(pool)...)
	w := &wiring{deps: d, pool: pool, keyring: keyring, signer: signer, metrics: reg}
	svcs, public, err := w.services(ctx)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Principals = w.principalCache()
	a.Metrics = reg
	authn := server.NewAuthenticator(pool, signer, d.Clock, a.Principals, public, login.DuringPasswordReset)
	a.closers = append(a.closers, w.closers...)
	var tlsCfg *tls.Config
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("TLS certificate: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	srv, err := server.New(server.Options{
		TLS:      tlsCfg,
		Logger:   d.Logger,
		Auth:     authn,
		Services: svcs,
		Ready:    func(ctx context.Context) error { return pool.Ping(ctx) },
		Tracer:   w.tracer,
		Registry: reg,
		// Calls beyond the workers get a goroutine of their own.
		StreamWorkers: cfg.GRPCStreamWorkers,
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Server = srv
	return a, nil
}

// Listen opens the configured listeners. The metrics listener is nil when
// its address is empty.
func Listen(cfg config.Config) (grpcLis, httpLis, metricsLis net.Listener, err error) {
	if grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, nil, nil, fmt.Errorf("gRPC listener: %w", err)
	}
	if httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		grpcLis.Close()
		return nil, nil, nil, fmt.Errorf("HTTP listener: %w", err)
	}
	if cfg.MetricsAddr != "" {
		if metricsLis, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			grpcLis.Close()
			httpLis.Close()
			return nil, nil, nil, fmt.Errorf("metrics listener: %w", err)
		}
	}
	return grpcLis, httpLis, metricsLis, nil
}

// Close releases what Build opened, last first.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}
