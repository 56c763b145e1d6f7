package app

import (
	"context"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/policystore"
	"github.com/patronfed/patronfed/principals"
	"github.com/patronfed/patronfed/server"
	"github.com/patronfed/patronfed/services/events"
	"github.com/patronfed/patronfed/services/libraries"
	"github.com/patronfed/patronfed/services/login"
)

// wiring holds the shared parts while services are constructed. Each
// service gets the parts it uses as explicit constructor arguments.
type wiring struct {
	deps    Deps
	pool    *pgxpool.Pool
	keyring *pii.Keyring
	signer  *auth.Signer
	tracer  trace.TracerProvider
	metrics *prometheus.Registry // served at /metrics with the RPC metrics
	closers []func()

	// Shared by several services; built on first use (operator.go).
	policyStore *policystore.Store
	reloader    *policystore.Reloader
	auditw      *audit.Writer
	principals  *principals.Cache
}

// accountChanged is called after a committed change to an account or a
// patron (an erasure), so that this replica's next call already reads the
// new row.
func (w *wiring) accountChanged(id string) {
	if c := w.principalCache(); c != nil {
		c.Invalidate(id)
	}
}

// services constructs every gRPC service and lists the methods that need no
// token.
func (w *wiring) services(ctx context.Context) ([]server.Service, []string, error) {
	if err := w.setupTracing(ctx); err != nil {
		return nil, nil, err
	}
	cfg, clk := w.deps.Config, w.deps.Clock
	svcs := []server.Service{
		login.New(w.pool, w.signer, clk, login.Policy{
			MaxFailures: cfg.LoginMaxFailures, Lockout: cfg.LoginLockout, TokenTTL: cfg.TokenTTL,
			HashParams: w.deps.HashParams,
		}, w.accountChanged),
		libraries.New(w.pool, clk, w.deps.HashParams, w.accountChanged),
		events.New(w.pool, clk),
	}
	ops, err := w.operatorServices(ctx)
	if err != nil {
		return nil, nil, err
	}
	svcs = append(svcs, ops...)
	circ, err := w.circulationServices(ctx)
	if err != nil {
		return nil, nil, err
	}
	svcs = append(svcs, circ...)
	people, err := w.patronServices(ctx)
	if err != nil {
		return nil, nil, err
	}
	svcs = append(svcs, people...)
	rts, rtsPublic, err := w.rightsServices(ctx)
	if err != nil {
		return nil, nil, err
	}
	svcs = append(svcs, rts...)
	public := append([]string{}, login.PublicMethods...)
	public = append(public, rtsPublic...)
	return svcs, public, nil
}
